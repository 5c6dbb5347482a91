// One client connection of the HTTP listener and the lifecycle of each request on it: read and check
// the head, pick a backend, borrow an upstream connection, stream the body, stream the response back,
// give the connection back. Requests on one connection are served one at a time, so pipelined
// requests are answered in order. Body bytes travel as the Buffers that arrived (slices at most).
//
// Hot path: one object per connection with a stable shape, no closure or promise per request.

import type net from "node:net";
// The global `performance` is a getter on globalThis, run at every use; the module's binding is not.
import { performance } from "node:perf_hooks";
import { keep, RawStream, READ_BYTES } from "../net/raw-stream.ts";
import { BACKEND, OUTLIER, OUTLIER_STRIDE, POOL, VALIDATION, VALIDATION_STRIDE, VALIDATION_UNMATCHED } from "../stats/layout.ts";
import type { BackendRuntime, PoolRuntime } from "../worker/pool-runtime.ts";
import { BODY_BUFFER_BUDGET, type ListenerRuntime, type ListenerValidation, type Session, type WorkerEnvironment } from "../worker/environment.ts";
import { MEDIA_JSON, mediaOf, type BodyRefusal, type Media } from "../validation/body.ts";
import { storeCapacity } from "../validation/body-stores.ts";
import { NO_METHOD, NO_PATH } from "../validation/operations.ts";
import { bodyTooLarge, methodNotAllowed, noOperation, refusedBody, unplainPath } from "../validation/refusals.ts";
import { cannedResponse, type Reason } from "./canned-responses.ts";
import { ChunkedScanner, dechunk } from "./chunked.ts";
import { equalsLower, findHeadEnd, findLF } from "./syntax.ts";
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, forwardingContext, type BodyKind, type ForwardingContext } from "./request-head.ts";
import {
  RESPONSE_BODY_CHUNKED,
  RESPONSE_BODY_CLOSE,
  RESPONSE_BODY_LENGTH,
  RESPONSE_BODY_NONE,
  type ResponseBodyKind,
} from "./response-head.ts";
import type { UpstreamConnection, UpstreamUser } from "./upstream-pool.ts";

// Connection states.
const IDLE = 0; // between requests
const HEAD = 1; // part of a head has arrived
const WAITING = 2; // head parsed, waiting for an upstream connection
const ACTIVE = 3; // upstream connection attached
const TUNNEL = 4; // upgraded: bytes piped both ways
const CLOSED = 5;
const BUFFERING = 6; // head parsed, reading a small body whole before a backend is chosen
const VALIDATING = 7; // body read whole, its contract check running on a validation thread

// Response progress.
const RESPONSE_HEAD = 0;
const RESPONSE_BODY = 1;

const WELL_KNOWN_PATH = "/.well-known/farmhand";
/** Bytes buffered from a client (pipelined requests, a body waiting for a connection) before reading pauses. */
const MAX_BUFFERED = 64 * 1024;
/** Body bytes kept for a possible retry on a fresh connection. */
const MAX_RETAINED = 64 * 1024;
/** A response body with at least this much still to come is written on from the backend's reads, uncopied. */
const LEND_RESPONSE_BYTES = READ_BYTES;
/** A streaming body's rate is judged over windows this long (http.minBodyBytesPerSecond). */
const BODY_RATE_WINDOW_MS = 10_000;
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
const NO_BODY = Buffer.alloc(0);
/** How long a closed connection's client may go on sending before it is cut (see #linger). */
const LINGER_MS = 5_000;
/** What a validation thread's check came to, besides a refusal. */
const VALID_BODY = 0;
const CHECK_FAILED = 1;
type Verdict = BodyRefusal | typeof VALID_BODY | typeof CHECK_FAILED;

export class ClientSession implements UpstreamUser, Session {
  readonly #socket: net.Socket;
  /** The socket's reads and writes, straight on its handle (see net/raw-stream.ts). */
  readonly #io: RawStream;
  readonly #env: WorkerEnvironment;
  readonly #listener: ListenerRuntime;
  readonly #forwarding: ForwardingContext;
  readonly #pick: { clientAddress: string; hashHeader: string | undefined };

  #state = IDLE;
  #deadline = 0;
  #clientPaused = false;
  #clientEnded = false;
  /** The body part being sent is a view the client's stream lends for this call only (#receiveInPlace). */
  #lending = false;
  /** Received bytes not yet part of a request being forwarded (a partial head, pipelined requests). */
  #pending: Buffer | null = null;
  #pendingOffset = 0;
  /**
   * Growable storage that #pending is a prefix of while a head arrives in pieces: each piece is
   * copied once (capacity doubles), and the blank-line search resumes where it stopped, so a head
   * trickled in byte by byte costs linear, not quadratic, work.
   */
  #store: Buffer | null = null;
  /** Offset in #pending up to which no blank line and no line end were found. */
  #searchedTo = 0;
  #lineEndAt = -1;

  // The request in progress.
  #pool: PoolRuntime | undefined = undefined;
  #backend: BackendRuntime | null = null;
  #conn: UpstreamConnection | null = null;
  #upstreamHead: Buffer | null = null;
  #method = "";
  #minor = 1;
  #isHead = false;
  #idempotent = false;
  #keepAlive = true;
  #upgrade = false;
  #bodyKind: BodyKind = BODY_NONE;
  #bodyLeft = 0;
  #requestChunks: ChunkedScanner | null = null;
  #requestDone = true;
  /** Body parts received before an upstream connection was ready. */
  #bodyQueue: Buffer[] = [];
  #bodyQueued = 0;
  #bodySent = 0;
  /** Body parts already sent, kept while a retry may still need them; null once a retry is impossible. */
  #retained: Buffer[] | null = null;
  #retainedBytes = 0;
  #retried = false;
  #redispatched = false;
  /** The proxy answered the client's Expect: 100-continue itself; a backend's 100 is then not passed on. */
  #sentContinue = false;
  /** Held by the pool while it had no routable backend, until a backend comes or this passes (0: never held). */
  #heldUntil = 0;
  #held = false;
  #startedAt = 0;
  /** The request is counted in the pool's in-flight gauge. */
  #counted = false;
  /** Bytes of env.bufferedBodyBytes this request reserved while its body is read whole. */
  #reserved = 0;
  /** The current window of the body-rate check: when it began and the body bytes read in it. */
  #rateWindowStart = 0;
  #rateWindowBytes = 0;

  // Contract checks of the request in progress.
  /** The listener's checks as its head found them (a reload mid-request does not change them), or null. */
  #check: ListenerValidation | null = null;
  /** The operation the request was matched to, -1 before. */
  #operation = -1;
  #media: Media = MEDIA_JSON;
  /**
   * Bytes of env.validationBytes this request reserved, held until its body is handed to a backend;
   * while a validation thread has the body, its task holds them instead (see #checkOffThread).
   */
  #validationReserved = 0;
  /**
   * A large Content-Length body being gathered into a store of env.bodyStores (each piece copied
   * there straight from the read buffer), for a validation thread to read in place; null otherwise.
   */
  #bodyStore: Buffer | null = null;
  #bodyStored = 0;
  /**
   * The store a checked body is sent upstream from, once valid; given back when the response is
   * complete and no write points into it any more, dropped on any other ending.
   */
  #sendingStore: Buffer | null = null;
  /** The validation budget #sendingStore holds until it is given back (or dropped). */
  #sendingReserved = 0;
  /** Identifies the pending off-thread check; a check whose ticket is stale is ignored. */
  #validationTicket = 0;

  // The response in progress.
  #responseState = RESPONSE_HEAD;
  #responsePending: Buffer | null = null;
  #responseStatus = 0;
  #responseKind: ResponseBodyKind = RESPONSE_BODY_NONE;
  #responseLeft = 0;
  #responseChunks: ChunkedScanner | null = null;
  #responseReusable = false;
  #upstreamPaused = false;
  #closeAfter = false;

  constructor(socket: net.Socket, env: WorkerEnvironment, listener: ListenerRuntime) {
    this.#socket = socket;
    this.#env = env;
    this.#listener = listener;
    const address = normaliseAddress(socket.remoteAddress ?? "");
    this.#forwarding = forwardingContext(address, env.limits.trustedProxies.includes(address));
    this.#pick = { clientAddress: address, hashHeader: undefined };
    this.#deadline = env.coarseNow + env.limits.headTimeoutMs;
    this.#io = new RawStream(socket, this.#onData, this.#onDrain);
    socket.on("end", this.#onEnd);
    socket.on("error", noop);
    socket.on("close", this.#onClose);
    env.sessions.add(this);
    const pool = listener.pool;
    if (pool !== undefined) {
      env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS, 1);
      env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS_TOTAL, 1);
      this.#pool = pool;
    }
  }

  // ---- client side ------------------------------------------------------------------------------

  // Every way into the session is guarded: whatever a request holds, a handler that throws closes
  // this one connection cleanly and is reported; it never takes the worker and its other clients down.

  #onData = (data: Buffer): void => {
    try {
      if (this.#io.readInPlace || this.#io.lendReads) this.#receiveInPlace(data);
      else this.#receive(data);
    } catch (error) {
      this.#lending = false;
      this.#fault(error);
    }
  };

  /**
   * `data` is a view the client's stream lends, valid during this call only: a body being gathered
   * takes its part straight into its store, and one streaming to a backend is written from it.
   */
  #receiveInPlace(data: Buffer): void {
    if (this.#state === ACTIVE && this.#conn !== null && !this.#requestDone && this.#io.lendReads) {
      this.#lending = true;
      const end = this.#acceptBody(data, 0);
      this.#lending = false;
      // The lane goes back at the end of this read, not held by a connection that waits for its response.
      if (this.#requestDone) this.#io.lendReads = false;
      if (end < 0) return;
      if (end < data.length) this.#append(keep(data.subarray(end)), 0);
      return;
    }
    // Whatever follows a streamed body is read as usual.
    this.#io.lendReads = false;
    if (this.#state !== BUFFERING || this.#bodyStore === null || this.#requestDone) return this.#receive(keep(data));
    const end = this.#acceptBody(data, 0);
    if (end < 0) return;
    if (end < data.length) this.#append(keep(data.subarray(end)), 0);
    if (this.#bufferedEnough()) this.#bodyComplete();
  }

  #receive(data: Buffer): void {
    switch (this.#state) {
      case IDLE:
      case HEAD:
        this.#append(data, 0);
        this.#readHeads();
        return;
      case BUFFERING:
      case VALIDATING:
      case WAITING:
      case ACTIVE:
        if (!this.#requestDone) {
          const end = this.#acceptBody(data, 0);
          if (end < 0) return;
          // Bytes after the body (a pipelined request) wait in #pending until this exchange ends.
          if (end < data.length) this.#append(data, end);
          if (this.#state === BUFFERING && this.#bufferedEnough()) this.#bodyComplete();
        } else {
          this.#append(data, 0);
        }
        return;
      case TUNNEL:
        if (this.#conn !== null && !this.#conn.io.write(data)) this.#pauseClient();
        return;
    }
  }

  #onEnd = (): void => {
    this.#clientEnded = true;
    // A body still being read whole can no longer complete: nothing of it went anywhere.
    if (this.#state === IDLE || this.#state === HEAD || this.#state === BUFFERING) this.#close();
    else if (this.#state === TUNNEL) this.#conn?.io.end();
  };

  #onDrain = (): void => {
    if (this.#upstreamPaused && this.#conn !== null) {
      this.#upstreamPaused = false;
      this.#conn.io.resume();
    }
  };

  #onClose = (): void => {
    const wasState = this.#state;
    this.#state = CLOSED;
    this.#unreserve();
    this.#validationTicket++;
    if (wasState === WAITING || wasState === ACTIVE || wasState === TUNNEL) {
      // The client left mid-exchange: the upstream connection's framing is unknown, drop it.
      this.#abandonUpstream();
      this.#endInFlight();
    }
    const pool = this.#pool;
    if (pool !== undefined) this.#env.stats.add(pool.statsBase + POOL.CLIENT_CONNECTIONS, -1);
    this.#env.remove(this);
  };

  #append(data: Buffer, from: number): void {
    const pending = this.#pending;
    const add = data.length - from;
    const store = this.#store;
    if (pending === null) {
      this.#pending = data;
      this.#pendingOffset = from;
      this.#searchedTo = from;
      this.#lineEndAt = -1;
    } else if (store !== null && pending.buffer === store.buffer && pending.byteOffset === store.byteOffset &&
      pending.length + add <= store.length) {
      // Only partial heads and pipelined requests are joined, never a body being forwarded.
      data.copy(store, pending.length, from);
      this.#pending = store.subarray(0, pending.length + add);
    } else {
      const rest = pending.length - this.#pendingOffset;
      const grown = Buffer.allocUnsafe(Math.max(2 * (rest + add), 1024));
      pending.copy(grown, 0, this.#pendingOffset);
      data.copy(grown, rest, from);
      this.#store = grown;
      this.#searchedTo -= this.#pendingOffset;
      if (this.#lineEndAt >= 0) this.#lineEndAt -= this.#pendingOffset;
      this.#pending = grown.subarray(0, rest + add);
      this.#pendingOffset = 0;
    }
    if (this.#state !== IDLE && this.#state !== HEAD && this.#pending.length - this.#pendingOffset > MAX_BUFFERED) {
      this.#pauseClient();
    }
  }

  /** Parses as many complete request heads as are buffered, starting each request in turn. */
  #readHeads(): void {
    const limits = this.#env.limits;
    while (this.#state === IDLE || this.#state === HEAD) {
      const buf = this.#pending;
      if (buf === null) return;
      let start = this.#pendingOffset;
      // RFC 9112 section 2.2: empty lines before a request line are ignored.
      while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
      if (start !== this.#pendingOffset) {
        this.#pendingOffset = start;
        this.#searchedTo = Math.max(this.#searchedTo, start);
      }
      if (start >= buf.length) {
        this.#pending = null;
        return;
      }
      if (this.#state === IDLE) {
        this.#state = HEAD;
        this.#deadline = this.#env.coarseNow + limits.headTimeoutMs;
      }
      const found = findHeadEnd(buf, Math.max(start, this.#searchedTo - 3));
      if (this.#lineEndAt < start) this.#lineEndAt = findLF(buf, Math.max(start, this.#searchedTo), buf.length);
      if (found < 0) {
        this.#searchedTo = buf.length;
        const lineEnd = this.#lineEndAt;
        if ((lineEnd < 0 ? buf.length - start : lineEnd - start) > limits.maxRequestLineBytes) {
          this.#reject(414);
        } else if (buf.length - start > limits.maxHeadBytes) {
          this.#reject(431);
        }
        return;
      }
      const end = found + 4;
      const lineEnd = this.#lineEndAt;
      if (lineEnd - start > limits.maxRequestLineBytes) return this.#reject(414);
      if (end - start > limits.maxHeadBytes) return this.#reject(431);
      const head = this.#env.requestHead;
      let pool = this.#listener.pool;
      if (!head.parse(buf, start, end, this.#forwarding, pool?.hashHeader ?? "")) return this.#reject(head.status);
      const check = this.#listener.validation;
      if (this.#listener.routes.length > 0) {
        const path = head.originTarget ?? buf.toString("latin1", head.targetStart, head.targetEnd);
        // A path that a backend would normalise to another (dot segments, encoded slashes) could
        // reach a route that its prefix does not name.
        if (!isPlainPath(path)) return this.#reject(400);
        const routed = this.#route(path) ?? pool;
        // The route is known only once the head is read; a routed pool that hashes on another
        // header has it read again for that one.
        if (routed !== undefined && routed.hashHeader !== (pool?.hashHeader ?? "")) head.parse(buf, start, end, this.#forwarding, routed.hashHeader);
        pool = routed;
      }
      const wellKnown = this.#listener.wellKnown;
      if (wellKnown !== null && head.bodyKind === BODY_NONE && head.method === "GET" &&
        head.targetEnd - head.targetStart === WELL_KNOWN_PATH.length &&
        buf.toString("latin1", head.targetStart, head.targetEnd) === WELL_KNOWN_PATH) {
        // The listener answers for itself what contract it serves; the request goes nowhere else.
        this.#pendingOffset = this.#searchedTo = end;
        this.#lineEndAt = -1;
        if (end >= buf.length) this.#pending = null;
        this.#closeAfter = !head.keepAlive;
        this.#io.write(wellKnown);
        if (this.#closeAfter) return this.#close();
        this.#state = IDLE;
        continue;
      }
      this.#startedAt = performance.now();
      this.#method = head.method;
      this.#minor = head.minor;
      this.#isHead = head.isHead;
      this.#idempotent = head.idempotent;
      this.#keepAlive = head.keepAlive;
      this.#upgrade = head.upgrade;
      this.#bodyKind = head.bodyKind;
      this.#bodyLeft = head.contentLength;
      this.#upstreamHead = head.upstream;
      this.#pick.hashHeader = head.hashValue;
      this.#requestDone = head.bodyKind === BODY_NONE;
      this.#bodySent = 0;
      this.#retained = null;
      this.#retainedBytes = 0;
      this.#retried = false;
      this.#redispatched = false;
      this.#sentContinue = false;
      this.#heldUntil = 0;
      this.#closeAfter = false;
      this.#backend = null;
      this.#state = WAITING;
      this.#pool = pool;
      this.#check = check;
      if (head.bodyKind === BODY_CHUNKED) (this.#requestChunks ??= new ChunkedScanner(limits.maxHeadBytes)).reset();
      if (!this.#requestDone) {
        this.#rateWindowStart = this.#env.coarseNow;
        this.#rateWindowBytes = 0;
      }
      if (check !== null) {
        const ct = head.contentTypeStart;
        // The usual type is read off the bytes, without making a string of it.
        const media = ct < 0 || equalsLower(buf, ct, head.contentTypeEnd - ct, "application/json") ? MEDIA_JSON
          : mediaOf(buf.toString("latin1", ct, head.contentTypeEnd));
        const refusal = this.#admit(check, head.originTarget ?? buf.toString("latin1", head.targetStart, head.targetEnd), media);
        if (refusal !== null) {
          // Refused on its head: nothing of it goes anywhere. A body not read would be taken for
          // the next request, so then the connection closes.
          this.#searchedTo = end;
          this.#lineEndAt = -1;
          if (end >= buf.length) this.#pending = null;
          else this.#pendingOffset = end;
          this.#refuse(refusal.status, refusal.response, !this.#requestDone);
          if (this.#state === CLOSED) return;
          continue;
        }
      } else if (!this.#requestDone) {
        // A small body is read whole before a backend is chosen: a client that sends it slowly then
        // holds only its own socket. A chunked body a client waits to be asked for is of unknown
        // size, so its head goes on at once and the backend asks for it.
        const reserve = head.bodyKind === BODY_LENGTH ? head.contentLength : limits.bufferBodyBytes;
        if (pool !== undefined && (!head.expectContinue || head.bodyKind === BODY_LENGTH) && limits.bufferBodyBytes > 0 &&
          head.contentLength <= limits.bufferBodyBytes && this.#env.bufferedBodyBytes + reserve <= BODY_BUFFER_BUDGET) {
          this.#reserved = reserve;
          this.#env.bufferedBodyBytes += reserve;
          this.#state = BUFFERING;
          this.#deadline = this.#env.coarseNow + limits.bodyTimeoutMs;
        }
      }
      if (this.#state === BUFFERING && head.expectContinue) this.#meetExpectation(buf.length - end);
      this.#searchedTo = end;
      this.#lineEndAt = -1;
      if (end >= buf.length) {
        this.#pending = null;
      } else {
        this.#pendingOffset = end;
        if (!this.#requestDone) {
          // The body's first bytes came with the head; what follows them is the next request.
          const bodyEnd = this.#acceptBody(buf, end);
          if (bodyEnd < 0) return;
          if (bodyEnd >= buf.length) this.#pending = null;
          else this.#pendingOffset = this.#searchedTo = bodyEnd;
        }
      }
      if (this.#pool === undefined) return this.#respondLocal(503, true, "no-routable-backend");
      if (this.#state === BUFFERING) {
        if (this.#bufferedEnough()) this.#bodyComplete();
        return;
      }
      this.#begin();
      return;
    }
  }

  /**
   * The body is read here before any backend is asked, so the proxy answers the client's wait itself
   * (unless the body came with the head anyway, or the client speaks HTTP/1.0, whose expectation is
   * ignored). The backend then gets head and body together, without the Expect field: nothing is
   * left for it to ask for.
   */
  #meetExpectation(arrived: number): void {
    this.#upstreamHead = this.#env.requestHead.upstreamWithoutExpect();
    if (this.#minor === 1 && (this.#bodyKind === BODY_CHUNKED || arrived < this.#bodyLeft)) {
      this.#sentContinue = true;
      this.#io.write(CONTINUE);
    }
  }

  // ---- contract checks ----------------------------------------------------------------------------

  /**
   * Matches the request to an operation and gets its body read for checking. Returns the refusal
   * (a complete response, and its status) when the head alone decides against it; null when the
   * request is admitted (then either already checked, having no body, or BUFFERING its body).
   */
  #admit(check: ListenerValidation, target: string, media: Media): { status: number; response: (close: boolean) => Buffer } | null {
    this.#operation = -1;
    const method = this.#method;
    // A path a backend would normalise to another could be one operation here and another there.
    if (!isPlainPath(target)) {
      this.#countCheck(check, VALIDATION_UNMATCHED, VALIDATION.NOT_FOUND);
      return { status: 400, response: () => unplainPath() };
    }
    const op = check.check.router.match(method, target);
    if (op === NO_PATH) {
      this.#countCheck(check, VALIDATION_UNMATCHED, VALIDATION.NOT_FOUND);
      return { status: 404, response: (close) => noOperation(method, target, close) };
    }
    if (op === NO_METHOD) {
      this.#countCheck(check, VALIDATION_UNMATCHED, VALIDATION.METHOD_NOT_ALLOWED);
      return { status: 405, response: (close) => methodNotAllowed(method, target, check.check.router.allowed(target), close) };
    }
    this.#operation = op;
    this.#media = media;
    if (this.#requestDone) {
      const refusal = check.check.check(op, this.#media, NO_BODY);
      if (refusal !== null) return this.#bodyRefused(check, refusal);
      this.#countCheck(check, op, VALIDATION.VALID);
      return null;
    }
    const config = check.check.config;
    const env = this.#env;
    if (this.#bodyKind === BODY_LENGTH && this.#bodyLeft > config.maxBodyBytes) {
      this.#countCheck(check, op, VALIDATION.TOO_LARGE);
      return { status: 413, response: () => bodyTooLarge(config.maxBodyBytes) };
    }
    // A declared length is reserved whole before a byte is read, as the store it is gathered in when
    // it is checked off the I/O thread (its length rounded up to a power of two); a chunked body
    // grows its reservation as it comes.
    const stored = this.#bodyKind === BODY_LENGTH && this.#bodyLeft > config.inlineBodyBytes;
    const reserve = this.#bodyKind !== BODY_LENGTH ? 0 : stored ? storeCapacity(this.#bodyLeft) : this.#bodyLeft;
    if (env.validationBytes + reserve > env.validationOptions.memoryBytes) {
      this.#countCheck(check, op, VALIDATION.BUSY);
      return { status: 503, response: (close) => cannedResponse(503, close, "validation-busy") };
    }
    this.#validationReserved = reserve;
    env.validationBytes += reserve;
    if (stored) {
      this.#bodyStore = env.bodyStores.take(this.#bodyLeft);
      this.#bodyStored = 0;
      this.#io.readInPlace = true;
    }
    this.#state = BUFFERING;
    this.#deadline = env.coarseNow + env.limits.bodyTimeoutMs;
    return null;
  }

  #countCheck(check: ListenerValidation, record: number, field: number): void {
    this.#env.stats.add(check.statsBase + record * VALIDATION_STRIDE + field, 1);
  }

  #bodyRefused(check: ListenerValidation, refusal: BodyRefusal): { status: number; response: (close: boolean) => Buffer } {
    this.#countCheck(check, this.#operation, refusal.status === 415 ? VALIDATION.UNSUPPORTED_MEDIA_TYPE : VALIDATION.INVALID);
    return { status: refusal.status, response: (close) => refusedBody(refusal, close) };
  }

  /** The body read whole: checked first when the listener checks contracts, then sent on. */
  #bodyComplete(): void {
    const check = this.#check;
    if (check === null || this.#operation < 0) return this.#begin();
    const op = this.#operation;
    let whole: Buffer;
    if (this.#bodyStore !== null) {
      whole = this.#bodyStore;
    } else {
      const queue = this.#bodyQueue;
      const raw = queue.length === 1 ? queue[0] : Buffer.concat(queue);
      // A chunked body goes on as it came (framing and all); it is checked as what it frames.
      whole = this.#bodyKind === BODY_CHUNKED ? dechunk(raw) : raw;
      if (this.#bodyKind === BODY_CHUNKED && whole.length > check.check.config.inlineBodyBytes) {
        // The store is held while the check runs, beside the body still queued as it came.
        if (!this.#reserveValidation(check, this.#bodyQueued + storeCapacity(whole.length))) return;
        const copy = this.#env.bodyStores.take(whole.length);
        whole.copy(copy);
        whole = copy;
      }
    }
    if (whole.length > check.check.config.inlineBodyBytes) return this.#checkOffThread(check, op, whole);
    const refusal = check.check.check(op, this.#media, whole);
    if (refusal !== null) {
      const { status, response } = this.#bodyRefused(check, refusal);
      return this.#respondWith(status, response, false);
    }
    this.#countCheck(check, op, VALIDATION.VALID);
    this.#begin();
  }

  /**
   * Hands a large body to a validation thread, which reads `whole` (a store of env.bodyStores) in
   * place, and waits. The client is not read meanwhile beyond MAX_BUFFERED; the I/O thread serves
   * everyone else. The task owns the store until it settles: nothing else may write it meanwhile.
   *
   * The reservation goes with the body: the pool holds the buffer (queued or being parsed) until the
   * task settles, whether or not anyone still waits for the verdict, so only the settling gives the
   * memory back. Otherwise clients that send large bodies and hang up, or outlast the check's
   * deadline, would free budget the pool still uses, and its queue could grow past the budget.
   */
  #checkOffThread(check: ListenerValidation, op: number, whole: Buffer): void {
    this.#state = VALIDATING;
    this.#stopGathering();
    this.#deadline = this.#env.coarseNow + this.#env.limits.bodyTimeoutMs;
    const ticket = ++this.#validationTicket;
    this.#countCheck(check, op, VALIDATION.OFFLOADED);
    const length = whole.length;
    const held = this.#validationReserved;
    this.#validationReserved = 0;
    this.#env.validationPool.run({
      key: check.check.keys[op],
      schema: check.check.config.operations[op].request,
      media: this.#media,
      label: check.check.labels[op],
      body: whole.buffer as SharedArrayBuffer,
      length,
    }).then(
      (refusal) => this.#checkedOffThread(ticket, check, op, refusal ?? VALID_BODY, whole, held),
      () => this.#checkedOffThread(ticket, check, op, CHECK_FAILED, whole, held),
    );
  }

  /**
   * The validation thread's verdict on `store`. `held`: the reservation the task carried, the
   * session's again if it still waits for this verdict. The store comes back with the verdict: it is
   * given back at once unless a valid Content-Length body is now sent from it.
   */
  #checkedOffThread(ticket: number, check: ListenerValidation, op: number, verdict: Verdict, store: Buffer, held: number): void {
    const stores = this.#env.bodyStores;
    if (ticket !== this.#validationTicket || this.#state !== VALIDATING) {
      this.#env.validationBytes -= held;
      stores.give(store);
      return;
    }
    this.#validationReserved += held;
    try {
      if (verdict === CHECK_FAILED) {
        stores.give(store);
        this.#countCheck(check, op, VALIDATION.FAILED);
        return this.#respondLocal(503, false, "validation-failed");
      }
      if (verdict !== VALID_BODY) {
        stores.give(store);
        const { status, response } = this.#bodyRefused(check, verdict);
        return this.#respondWith(status, response, false);
      }
      this.#countCheck(check, op, VALIDATION.VALID);
      if (this.#bodyKind === BODY_LENGTH) {
        this.#sendingStore = store;
        this.#bodyQueue = [store];
        this.#bodyQueued = store.length;
      } else {
        // A chunked body was checked as a copy: its own bytes, framing and all, are still queued.
        stores.give(store);
      }
      this.#begin();
    } catch (error) {
      this.#fault(error);
    }
  }

  /** Answers a request refused on its head, before it was counted in flight: keeps the connection unless told to close. */
  #refuse(status: number, response: (close: boolean) => Buffer, close: boolean): void {
    if (this.#pool !== undefined) this.#recordResponse(status, null);
    this.#unreserve();
    this.#closeAfter = close || !this.#keepAlive || this.#clientEnded || this.#env.draining;
    this.#io.write(response(this.#closeAfter));
    if (this.#closeAfter) return this.#close();
    this.#state = IDLE;
    this.#deadline = this.#env.coarseNow + this.#env.limits.keepAliveTimeoutMs;
  }

  /** The request goes to a backend: counted in flight, and one is picked. */
  #begin(): void {
    this.#unreserveBuffer();
    this.#state = WAITING;
    this.#counted = true;
    this.#env.stats.add(this.#pool!.statsBase + POOL.IN_FLIGHT, 1);
    this.#dispatch(undefined);
  }

  /** A body read whole is complete, or (chunked) has outgrown what is read whole and streams from here. */
  #bufferedEnough(): boolean {
    // A body that is checked is read whole, however it is framed.
    return this.#requestDone || (this.#check === null && this.#bodyQueued > this.#env.limits.bufferBodyBytes);
  }

  #unreserve(): void {
    this.#unreserveBuffer();
    this.#unreserveValidation();
    if (this.#bodyStore !== null) {
      // Gathered but never handed on: nothing else refers to it.
      this.#env.bodyStores.give(this.#bodyStore);
      this.#stopGathering();
    }
    // Possibly still in a write, or kept for a retry: left to the GC.
    this.#dropSendingStore();
  }

  #stopGathering(): void {
    this.#bodyStore = null;
    this.#io.readInPlace = false;
  }

  #unreserveBuffer(): void {
    if (this.#reserved !== 0) {
      this.#env.bufferedBodyBytes -= this.#reserved;
      this.#reserved = 0;
    }
  }

  #unreserveValidation(): void {
    if (this.#validationReserved !== 0) {
      this.#env.validationBytes -= this.#validationReserved;
      this.#validationReserved = 0;
    }
  }

  /**
   * A checked chunked body's reservation grows as it arrives (raw and decoded: twice its size). Past
   * the listener's limit it gets 413, past the worker's budget 503; either way the connection closes,
   * having sent nothing anywhere. Returns false when the request was refused.
   */
  #growValidation(check: ListenerValidation): boolean {
    const need = 2 * this.#bodyQueued;
    if (this.#bodyQueued > check.check.config.maxBodyBytes) {
      this.#countCheck(check, this.#operation, VALIDATION.TOO_LARGE);
      this.#refuse(413, () => bodyTooLarge(check.check.config.maxBodyBytes), true);
      return false;
    }
    return this.#reserveValidation(check, need);
  }

  /** Grows the request's validation reservation to `need` bytes; past the worker's budget, 503 and false. */
  #reserveValidation(check: ListenerValidation, need: number): boolean {
    const more = need - this.#validationReserved;
    if (more <= 0) return true;
    if (this.#env.validationBytes + more > this.#env.validationOptions.memoryBytes) {
      this.#countCheck(check, this.#operation, VALIDATION.BUSY);
      this.#refuse(503, (close) => cannedResponse(503, close, "validation-busy"), true);
      return false;
    }
    this.#validationReserved += more;
    this.#env.validationBytes += more;
    return true;
  }

  /** The pool of the longest route prefix the request's path starts with (routes are sorted so). */
  #route(path: string): PoolRuntime | undefined {
    for (const route of this.#listener.routes) {
      if (path.startsWith(route.prefix)) return route.pool;
    }
    return undefined;
  }

  /**
   * Takes the request body's bytes from data[from...]: forwards them, or queues them while no
   * upstream connection is ready. Returns the index past the body's part in `data`, or -1 when the
   * body's framing is invalid (the request was then refused).
   */
  #acceptBody(data: Buffer, from: number): number {
    let end: number;
    if (this.#bodyKind === BODY_LENGTH) {
      const take = Math.min(this.#bodyLeft, data.length - from);
      end = from + take;
      this.#bodyLeft -= take;
      if (this.#bodyLeft === 0) this.#requestDone = true;
    } else {
      const scanner = this.#requestChunks!;
      end = scanner.scan(data, from);
      if (end < 0) {
        this.#bodyInvalid();
        return -1;
      }
      if (scanner.done) this.#requestDone = true;
    }
    if (end > from) {
      this.#rateWindowBytes += end - from;
      const part = from === 0 && end === data.length ? data : data.subarray(from, end);
      if (this.#state === ACTIVE && this.#conn !== null) {
        this.#sendBody(this.#conn, part);
      } else if (this.#bodyStore !== null) {
        part.copy(this.#bodyStore, this.#bodyStored);
        this.#bodyStored += part.length;
      } else {
        this.#bodyQueue.push(part);
        this.#bodyQueued += part.length;
        if (this.#state === BUFFERING && this.#check !== null && this.#bodyKind === BODY_CHUNKED && !this.#growValidation(this.#check)) return -1;
        // While a body is read whole, it is not yet anyone's to wait for.
        if (this.#bodyQueued > MAX_BUFFERED && this.#state !== BUFFERING) this.#pauseClient();
      }
    }
    const now = this.#env.coarseNow;
    this.#deadline = this.#requestDone && this.#state === ACTIVE
      ? now + this.#pool!.upstream.responseTimeoutMs
      : now + this.#env.limits.bodyTimeoutMs;
    return end;
  }

  #sendBody(conn: UpstreamConnection, part: Buffer): void {
    this.#bodySent += part.length;
    const lent = this.#lending && this.#retained === null;
    // What is kept for a retry must outlive a lent view.
    if (this.#lending && !lent) part = keep(part);
    if (this.#retained !== null) {
      this.#retainedBytes += part.length;
      if (this.#retainedBytes > MAX_RETAINED) this.#retained = null;
      else this.#retained.push(part);
    }
    if (!(lent ? conn.io.writeLent(part, this.#io) : conn.io.write(part))) this.#pauseClient();
  }

  #bodyInvalid(): void {
    // When the broken framing came with the head nothing was sent: a clean 400. Otherwise the backend
    // holds a partial request; cutting its connection keeps it from ever completing.
    if (this.#cutMidResponse()) return;
    this.#abandonUpstream();
    this.#endInFlight();
    this.#reject(400);
  }

  /**
   * A request whose body failed (broken framing, too slow, stopped) while a backend that answered
   * early is still sending its response: part of that response is already with the client, so an
   * answer of the proxy's own would be read as its continuation. Both connections are cut instead.
   * Returns false, doing nothing, when no response byte went out yet.
   */
  #cutMidResponse(): boolean {
    if (this.#state !== ACTIVE || this.#responseState !== RESPONSE_BODY) return false;
    const pool = this.#pool;
    if (pool !== undefined) this.#env.stats.add(pool.statsBase + POOL.REJECTED, 1);
    this.#unreserve();
    this.#abortMidResponse();
    return true;
  }

  /** Lets go of the upstream side of the request in progress, whatever its stage. */
  #abandonUpstream(): void {
    const conn = this.#conn;
    this.#conn = null;
    this.#storeBackAfter(conn);
    if (conn !== null) conn.destroy(this);
    else if (this.#backend !== null) this.#backend.connections.cancelWait(this);
  }

  #pauseClient(): void {
    if (!this.#clientPaused) {
      this.#clientPaused = true;
      this.#io.pause();
    }
  }

  #resumeClient(): void {
    if (this.#clientPaused) {
      this.#clientPaused = false;
      this.#io.resume();
    }
  }

  // ---- choosing a backend -------------------------------------------------------------------------

  /** `failed`: what went wrong with `avoid`, the answer when no other backend can take the request. */
  #dispatch(avoid: BackendRuntime | undefined, failed: Reason = "upstream-connect-failed"): void {
    const pool = this.#pool!;
    let backend = pool.picker.pick(this.#pick, Date.now(), avoid);
    // After a refused connection, a backup held in standby may take the request.
    if ((backend === undefined || backend === avoid) && avoid !== undefined) backend = pool.standby?.pick(this.#pick, Date.now());
    if (backend === undefined || backend === avoid) {
      // With nowhere else to go after a connect failure, the answer is that failure's: 502.
      if (avoid !== undefined) return this.#respondLocal(502, !this.#requestDone, failed);
      if (this.#hold(pool)) return;
      this.#env.stats.add(pool.statsBase + POOL.NO_BACKEND, 1);
      return this.#respondLocal(503, !this.#requestDone, this.#heldUntil === 0 ? "no-routable-backend" : "no-backend-in-time");
    }
    this.#backend = backend;
    backend.active++;
    this.#env.stats.add(backend.statsBase + BACKEND.IN_FLIGHT, 1);
    this.#state = WAITING;
    this.#deadline = this.#env.coarseNow + pool.upstream.queueTimeoutMs;
    if (!backend.connections.acquire(this, false, this.#shareable())) {
      this.#releaseBackend();
      this.#respondLocal(503, !this.#requestDone, "queue-full");
    }
  }

  /**
   * With no routable backend (a group scaled to zero, its only replica restarting), waits for one
   * rather than answering 503 at once, within the pool's bound on held requests and time; a request
   * woken and sent away empty-handed again keeps its first deadline.
   */
  #hold(pool: PoolRuntime): boolean {
    const now = this.#env.coarseNow;
    if (this.#heldUntil === 0) {
      if (pool.upstream.emptyPoolHold === 0) return false;
      if (!pool.hold(this)) return false;
      this.#heldUntil = now + pool.upstream.emptyPoolHoldMs;
      this.#env.stats.add(pool.statsBase + POOL.HELD, 1);
    } else if (now >= this.#heldUntil || !pool.hold(this)) {
      return false;
    }
    this.#held = true;
    this.#state = WAITING;
    this.#deadline = this.#heldUntil;
    return true;
  }

  /** Safe to pipeline behind other requests: replayable, and nothing to stream. */
  #shareable(): boolean {
    return (this.#method === "GET" || this.#isHead) && this.#bodyKind === BODY_NONE && !this.#upgrade;
  }

  #releaseBackend(): void {
    if (this.#held) {
      this.#held = false;
      this.#pool!.release(this);
    }
    const backend = this.#backend;
    if (backend !== null) {
      backend.active--;
      this.#env.stats.add(backend.statsBase + BACKEND.IN_FLIGHT, -1);
      this.#backend = null;
    }
  }

  // ---- upstream side ------------------------------------------------------------------------------

  onUpstreamReady(conn: UpstreamConnection): void {
    try {
      this.#upstreamReady(conn);
    } catch (error) {
      this.#fault(error);
    }
  }

  #upstreamReady(conn: UpstreamConnection): void {
    if (this.#state !== WAITING || conn.pool !== this.#backend?.connections) {
      // The client went away, or gave up on this backend, while the connection was opening: keep it
      // for someone else.
      conn.withdraw(this, this.#env.coarseNow);
      return;
    }
    this.#state = ACTIVE;
    this.#conn = conn;
    this.#responseState = RESPONSE_HEAD;
    this.#responsePending = null;
    this.#upstreamPaused = false;
    if (conn.reused && !this.#retried && this.#idempotent) {
      this.#retained = [];
      this.#retainedBytes = 0;
    }
    const queue = this.#bodyQueue;
    conn.io.write(this.#upstreamHead!);
    // The rest of the body goes on from the client's reads as they come, without a copy each.
    if (!this.#requestDone) this.#io.lendReads = true;
    if (queue.length > 0) {
      for (let i = 0; i < queue.length; i++) this.#sendBody(conn, queue[i]);
      queue.length = 0;
      this.#bodyQueued = 0;
    }
    // A checked body is the socket's to send now. From a store, it stays in the validation budget
    // until the store is given back: a backend that reads slowly must not let in more bodies than
    // the budget holds. Anything else is in the socket's queue, bounded as every write is.
    if (this.#sendingStore !== null) {
      this.#sendingReserved += this.#validationReserved;
      this.#validationReserved = 0;
    } else {
      this.#unreserveValidation();
    }
    this.#deadline = this.#env.coarseNow +
      (this.#requestDone ? this.#pool!.upstream.responseTimeoutMs : this.#env.limits.bodyTimeoutMs);
    this.#resumeClient();
  }

  onBackendRetired(): void {
    if (this.#state !== WAITING || this.#conn !== null) return;
    this.#releaseBackend();
    this.#dispatch(undefined);
  }

  onUpstreamDrain(): void {
    if (this.#state === ACTIVE || this.#state === TUNNEL) this.#resumeClient();
  }

  onUpstreamData(conn: UpstreamConnection, data: Buffer): number {
    try {
      return this.#upstreamData(conn, data);
    } catch (error) {
      this.#fault(error);
      return -1;
    }
  }

  #upstreamData(conn: UpstreamConnection, data: Buffer): number {
    if (conn !== this.#conn) {
      // Not this request's turn (cannot happen while connections deliver in order): drop the connection.
      conn.destroy(null);
      return -1;
    }
    const lent = conn.io.lendReads;
    if (this.#responseState === RESPONSE_BODY && this.#state !== TUNNEL) {
      this.#deadline = this.#env.coarseNow + this.#pool!.upstream.responseTimeoutMs;
      const end = this.#acceptResponseBody(data, 0);
      if (end < 0) return -1;
      const part = end === data.length ? data : data.subarray(0, end);
      if (!(lent ? this.#io.writeLent(part, conn.io) : this.#io.write(part))) this.#pauseUpstream(conn);
      // The response's end turns lending off (UpstreamConnection.responseDone).
      if (this.#responseState !== RESPONSE_BODY) this.#finish();
      return end;
    }
    if (lent) {
      // Only a response body is passed on from the read as it is; anything else is kept.
      conn.io.lendReads = false;
      data = keep(data);
    }
    if (this.#state === TUNNEL) {
      if (!this.#io.write(data)) this.#pauseUpstream(conn);
      return data.length;
    }
    return this.#readResponseHeads(conn, data);
  }

  /** A response body that goes on past this read, and may be large, is written on from the backend's reads uncopied. */
  #lendUpstreamReads(conn: UpstreamConnection): void {
    if (this.#responseState === RESPONSE_BODY && (this.#responseKind !== RESPONSE_BODY_LENGTH || this.#responseLeft >= LEND_RESPONSE_BYTES)) {
      conn.io.lendReads = true;
    }
  }

  /** Reads this request's response head (and what follows of its body); returns the bytes of `data` used, or -1. */
  #readResponseHeads(conn: UpstreamConnection, data: Buffer): number {
    let buf = data;
    // Offsets in `buf` are this much ahead of offsets in `data` when a partial head was kept.
    let carried = 0;
    if (this.#responsePending !== null) {
      carried = this.#responsePending.length;
      buf = Buffer.concat([this.#responsePending, data]);
      this.#responsePending = null;
    }
    let start = 0;
    const env = this.#env;
    for (;;) {
      const found = findHeadEnd(buf, start);
      if (found < 0) {
        if (buf.length - start > env.limits.maxHeadBytes) return this.#upstreamBroken(502);
        this.#responsePending = start === 0 ? buf : buf.subarray(start);
        return data.length;
      }
      const end = found + 4;
      const head = env.responseHead;
      if (!head.parse(buf, start, end, this.#isHead)) return this.#upstreamBroken(502);
      const status = head.status;
      if (status < 200) {
        if (status === 101) {
          if (!this.#upgrade) return this.#upstreamBroken(502);
          this.#startTunnel(conn, head.clientHead(buf, start, end, "upgrade"), buf, end);
          return data.length;
        }
        // Interim responses (100 Continue, 103) go to HTTP/1.1 clients as they are, but for one 100
        // the proxy already sent itself: the client must not take a second for something else.
        if (this.#minor === 1 && !(status === 100 && this.#sentContinue)) this.#io.write(head.clientHead(buf, start, end, ""));
        start = end;
        continue;
      }
      this.#responseStatus = status;
      this.#responseKind = head.bodyKind;
      this.#responseLeft = head.contentLength;
      this.#responseReusable = head.reusable;
      this.#responseState = RESPONSE_BODY;
      this.#closeAfter = !this.#keepAlive || this.#clientEnded || env.draining || !this.#requestDone ||
        head.bodyKind === RESPONSE_BODY_CLOSE;
      const connection = this.#closeAfter ? "close" : this.#minor === 0 ? "keep-alive" : "";
      // null: the backend's head goes out as it came, in one piece with the body bytes after it.
      const clientHead = head.keepsHead(connection) ? null : head.clientHead(buf, start, end, connection);
      if (head.bodyKind === RESPONSE_BODY_NONE) {
        this.#responseState = RESPONSE_HEAD;
        if (!this.#io.write(clientHead ?? part(buf, start, end))) this.#pauseUpstream(conn);
        this.#finish();
        return end - carried;
      }
      if (head.bodyKind === RESPONSE_BODY_CHUNKED) (this.#responseChunks ??= new ChunkedScanner(env.limits.maxHeadBytes)).reset();
      this.#deadline = env.coarseNow + this.#pool!.upstream.responseTimeoutMs;
      if (end === buf.length) {
        if (!this.#io.write(clientHead ?? part(buf, start, end))) this.#pauseUpstream(conn);
        this.#lendUpstreamReads(conn);
        return data.length;
      }
      const bodyEnd = this.#acceptResponseBody(buf, end);
      if (bodyEnd < 0) return -1;
      const joined = clientHead === null ? part(buf, start, bodyEnd) : joinHeadAndBody(clientHead, buf, end, bodyEnd);
      let ok: boolean;
      if (joined !== null) {
        ok = this.#io.write(joined);
      } else {
        // Only a rewritten head is not joined (its body part is large).
        this.#io.write(clientHead!);
        ok = this.#io.write(buf.subarray(end, bodyEnd));
      }
      if (!ok) this.#pauseUpstream(conn);
      if (this.#responseState !== RESPONSE_BODY) this.#finish();
      else this.#lendUpstreamReads(conn);
      return bodyEnd - carried;
    }
  }

  /** Delimits response body bytes in data[from...]; returns the end of the body's part, -1 if broken. */
  #acceptResponseBody(data: Buffer, from: number): number {
    switch (this.#responseKind) {
      case RESPONSE_BODY_LENGTH: {
        const take = Math.min(this.#responseLeft, data.length - from);
        this.#responseLeft -= take;
        if (this.#responseLeft === 0) this.#responseState = RESPONSE_HEAD;
        return from + take;
      }
      case RESPONSE_BODY_CHUNKED: {
        const scanner = this.#responseChunks!;
        const end = scanner.scan(data, from);
        if (end < 0) {
          // Part of the response is already with the client: all that is left is to cut both.
          this.#abortMidResponse();
          return -1;
        }
        if (scanner.done) this.#responseState = RESPONSE_HEAD;
        return end;
      }
      default:
        return data.length;
    }
  }

  #pauseUpstream(conn: UpstreamConnection): void {
    if (!this.#upstreamPaused) {
      this.#upstreamPaused = true;
      conn.io.pause();
    }
  }

  #startTunnel(conn: UpstreamConnection, head: Buffer, buf: Buffer, end: number): void {
    this.#state = TUNNEL;
    this.#responseStatus = 101;
    this.#recordResponse(101, this.#backend);
    this.#deadline = Infinity;
    const io = this.#io;
    io.write(head);
    if (end < buf.length) io.write(buf.subarray(end));
    // Bytes the client sent after its upgrade request belong to the new protocol.
    const pending = this.#pending;
    if (pending !== null) {
      conn.io.write(pending.subarray(this.#pendingOffset));
      this.#pending = null;
    }
    conn.socket.on("end", () => io.end());
    this.#resumeClient();
  }

  onUpstreamGone(conn: UpstreamConnection, connected: boolean, queued: boolean): void {
    try {
      this.#upstreamGone(conn, connected, queued);
    } catch (error) {
      this.#fault(error);
    }
  }

  #upstreamGone(conn: UpstreamConnection, connected: boolean, queued: boolean): void {
    const backend = this.#backend;
    if (this.#state === CLOSED || backend === null) return;
    const stats = this.#env.stats;
    if (!connected) {
      // Connect failure: nothing was sent, so another backend may take the request.
      stats.add(backend.statsBase + BACKEND.CONNECT_ERRORS, 1);
      this.#countFailure(backend);
      this.#releaseBackend();
      if (!this.#redispatched && this.#state === WAITING) {
        this.#redispatched = true;
        stats.add(backend.statsBase + BACKEND.RETRIES, 1);
        return this.#dispatch(backend);
      }
      return this.#respondLocal(502, !this.#requestDone, "upstream-connect-failed");
    }
    if (conn !== this.#conn) return;
    this.#conn = null;
    if (this.#state === TUNNEL) {
      this.#io.end();
      return;
    }
    if (this.#responseState === RESPONSE_HEAD && this.#responsePending === null) {
      // No response byte: a reused connection may simply have been closed by the backend meanwhile.
      const replayable = this.#bodySent === 0 || (this.#retained !== null && this.#requestDone);
      // Behind another request, this one may never have been read; on a reused connection the
      // backend may have closed before reading it. Either way it can go again once, when replayable.
      if ((conn.reused || queued) && !this.#retried && replayable) {
        this.#retried = true;
        stats.add(backend.statsBase + BACKEND.RETRIES, 1);
        this.#requeueRetained();
        this.#state = WAITING;
        backend.connections.acquire(this, true, false);
        return;
      }
      stats.add(backend.statsBase + BACKEND.UPSTREAM_ERRORS, 1);
      this.#countFailure(backend);
      // A backend that died holding an idempotent request it never answered: another may answer it.
      if (this.#idempotent && replayable && !this.#redispatched) {
        this.#redispatched = true;
        stats.add(backend.statsBase + BACKEND.RETRIES, 1);
        this.#releaseBackend();
        this.#requeueRetained();
        this.#state = WAITING;
        return this.#dispatch(backend, "upstream-reset");
      }
      this.#storeBackAfter(conn);
      return this.#upstreamFailed(502, "upstream-reset");
    }
    if (this.#responseState === RESPONSE_BODY && this.#responseKind === RESPONSE_BODY_CLOSE) {
      // The backend's close is how this response ends.
      this.#responseState = RESPONSE_HEAD;
      this.#responseReusable = false;
      this.#finish();
      return;
    }
    stats.add(backend.statsBase + BACKEND.UPSTREAM_ERRORS, 1);
    this.#storeBackAfter(conn);
    if (this.#responseState === RESPONSE_HEAD) return this.#upstreamFailed(502, "upstream-reset");
    this.#abortMidResponse();
  }

  /** Puts the body parts already sent back in front of the queue, to be sent again. */
  #requeueRetained(): void {
    const retained = this.#retained;
    if (retained !== null && retained.length > 0) {
      this.#bodyQueue = retained.concat(this.#bodyQueue);
      this.#bodyQueued += this.#retainedBytes;
    }
    this.#retained = null;
    this.#bodySent = 0;
  }

  /** The backend answered something unusable, or nothing at all in time: answer for it. Returns -1 (bytes used: none). */
  #upstreamBroken(status: number): number {
    const conn = this.#conn;
    this.#conn = null;
    this.#storeBackAfter(conn);
    conn?.destroy(this);
    const backend = this.#backend;
    if (backend !== null) {
      this.#env.stats.add(backend.statsBase + (status === 504 ? BACKEND.TIMEOUTS : BACKEND.UPSTREAM_ERRORS), 1);
      this.#countFailure(backend);
    }
    this.#upstreamFailed(status, status === 504 ? "upstream-timeout" : "upstream-malformed-response");
    return -1;
  }

  #upstreamFailed(status: number, reason: Reason): void {
    this.#releaseBackend();
    this.#respondLocal(status, !this.#requestDone, reason);
  }

  #abortMidResponse(): void {
    const conn = this.#conn;
    this.#conn = null;
    this.#storeBackAfter(conn);
    conn?.destroy(this);
    this.#endInFlight();
    this.#state = CLOSED;
    this.#socket.destroy();
  }

  /**
   * The body being sent from a store is done with on `conn` (answered, or failed there, with no
   * retry to come): the store goes back once no write on `conn` points into it any more. Dropped
   * instead, its memory would wait for a full GC in every thread that saw it.
   */
  #storeBackAfter(conn: UpstreamConnection | null): void {
    const store = this.#sendingStore;
    if (store === null || conn === null) return;
    const reserved = this.#sendingReserved;
    this.#sendingStore = null;
    this.#sendingReserved = 0;
    this.#retained = null;
    const env = this.#env;
    conn.io.afterWrites(() => {
      env.validationBytes -= reserved;
      env.bodyStores.give(store);
    });
  }

  /** Lets go of the store a body was sent from, to the GC: no write is known to be done with it. */
  #dropSendingStore(): void {
    this.#sendingStore = null;
    this.#env.validationBytes -= this.#sendingReserved;
    this.#sendingReserved = 0;
  }

  #countFailure(backend: BackendRuntime): void {
    const threshold = backend.pool.consecutiveConnectFailures;
    if (threshold <= 0) return;
    const cell = backend.slot * OUTLIER_STRIDE + OUTLIER.CONSECUTIVE_CONNECT_FAILURES;
    if (Atomics.add(this.#env.stats.outlier, cell, 1) + 1 === threshold) {
      this.#env.reportOutlier(backend, "connect-failure");
    }
  }

  // ---- ending an exchange -------------------------------------------------------------------------

  /** The response is complete. */
  #finish(): void {
    const backend = this.#backend!;
    const conn = this.#conn;
    const status = this.#responseStatus;
    this.#recordResponse(status, backend);
    const outlier = this.#env.stats.outlier;
    const base = backend.slot * OUTLIER_STRIDE + OUTLIER.CONSECUTIVE_5XX;
    const connectBase = backend.slot * OUTLIER_STRIDE + OUTLIER.CONSECUTIVE_CONNECT_FAILURES;
    if (status >= 500) {
      const threshold = backend.pool.consecutive5xx;
      if (threshold > 0 && Atomics.add(outlier, base, 1) + 1 === threshold) this.#env.reportOutlier(backend, "5xx");
    } else if (Atomics.load(outlier, base) !== 0) {
      Atomics.store(outlier, base, 0);
    }
    if (Atomics.load(outlier, connectBase) !== 0) Atomics.store(outlier, connectBase, 0);
    this.#endInFlight();
    this.#conn = null;
    if (this.#sendingStore !== null) {
      // No retry can send it again. A backend may answer before it has read the whole body, so the
      // store waits for the writes still in flight.
      if (this.#requestDone) this.#storeBackAfter(conn);
      this.#dropSendingStore();
      this.#retained = null;
    }
    if (conn !== null) {
      if (this.#upstreamPaused) {
        this.#upstreamPaused = false;
        conn.io.resume();
      }
      // A retired backend's pool closes the connection once its last request is done.
      if (!conn.closed) conn.responseDone(this.#responseReusable && this.#requestDone, this.#env.coarseNow);
    }
    this.#nextRequest();
  }

  #recordResponse(status: number, backend: BackendRuntime | null): void {
    const latencyUs = (performance.now() - this.#startedAt) * 1000;
    this.#env.stats.response(this.#pool!.statsBase, backend === null ? -1 : backend.statsBase, status, latencyUs);
  }

  #nextRequest(): void {
    if (this.#closeAfter) {
      this.#close();
      return;
    }
    this.#state = IDLE;
    this.#deadline = this.#env.coarseNow + this.#env.limits.keepAliveTimeoutMs;
    // An idle connection keeps no head storage (10,000 idle clients must stay cheap).
    if (this.#pending === null) this.#store = null;
    this.#resumeClient();
    if (this.#pending !== null) this.#readHeads();
  }

  /** Answers a request the proxy itself refused or could not serve, saying why when it answers for a backend. */
  #respondLocal(status: number, close: boolean, reason: Reason | null = null): void {
    this.#respondWith(status, (closing) => cannedResponse(status, closing, reason), close);
  }

  #respondWith(status: number, response: (close: boolean) => Buffer, close: boolean): void {
    if (this.#pool !== undefined) this.#recordResponse(status, null);
    this.#endInFlight();
    this.#unreserve();
    this.#closeAfter = close || !this.#keepAlive || this.#clientEnded || this.#env.draining;
    this.#bodyQueue.length = 0;
    this.#bodyQueued = 0;
    this.#io.write(response(this.#closeAfter));
    this.#nextRequest();
  }

  /** Refuses a request before it was counted in flight: always closes (its framing is not trusted). */
  #reject(status: number): void {
    const pool = this.#pool ?? this.#listener.pool;
    if (pool !== undefined) {
      this.#startedAt = performance.now();
      this.#pool = pool;
      this.#recordResponse(status, null);
      this.#env.stats.add(pool.statsBase + POOL.REJECTED, 1);
    }
    this.#rejectNow(status);
  }

  #rejectNow(status: number): void {
    this.#unreserve();
    this.#pending = null;
    this.#state = CLOSED;
    // Destroyed once the answer is written; a client that never reads it is cut at the deadline.
    this.#deadline = this.#env.coarseNow + LINGER_MS;
    this.#io.endAndDestroy(cannedResponse(status, true));
  }

  /** A request in flight ends without a response being recorded for it (client gone, or cut). */
  #endInFlight(): void {
    this.#releaseBackend();
    if (this.#counted) {
      this.#counted = false;
      this.#env.stats.add(this.#pool!.statsBase + POOL.IN_FLIGHT, -1);
    }
  }

  #close(): void {
    this.#unreserve();
    this.#state = CLOSED;
    this.#io.end();
    this.#linger();
  }

  /**
   * After the proxy ended its side, a client may still be sending (a body the backend answered
   * early, a client that ignores Connection: close). It sees the end only once its bytes are taken,
   * so they are read and dropped (CLOSED takes no data); one that goes on past LINGER_MS is cut, so
   * that no half-open connection holds a session, or a drain, for good.
   */
  #linger(): void {
    this.#deadline = this.#env.coarseNow + LINGER_MS;
    this.#resumeClient();
  }

  /**
   * A handler threw. What the connection was doing can no longer be trusted: its upstream side is
   * dropped, and the client gets a 500 if nothing of a response has gone out yet, else the
   * connection is cut. The worker reports the error and serves on.
   */
  #fault(error: unknown): void {
    this.#env.reportFault(error);
    try {
      if (this.#state === CLOSED) return;
      this.#validationTicket++;
      const answerable = this.#state !== TUNNEL && !(this.#state === ACTIVE && this.#responseState === RESPONSE_BODY);
      this.#abandonUpstream();
      this.#endInFlight();
      this.#unreserve();
      if (answerable) this.#rejectNow(500);
      else {
        this.#state = CLOSED;
        this.#socket.destroy();
      }
    } catch {
      this.#state = CLOSED;
      this.#socket.destroy();
    }
  }

  // ---- worker duties ------------------------------------------------------------------------------

  sweep(now: number): void {
    try {
      this.#sweep(now);
    } catch (error) {
      this.#fault(error);
    }
  }

  #sweep(now: number): void {
    if (this.#state === BUFFERING || ((this.#state === WAITING || this.#state === ACTIVE) && !this.#requestDone)) {
      if (this.#bodyTooSlow(now)) return;
    }
    // A held request's bound is its own: body bytes arriving meanwhile move #deadline, not this.
    if (this.#held) {
      if (now >= this.#heldUntil) {
        this.#env.stats.add(this.#pool!.statsBase + POOL.NO_BACKEND, 1);
        this.#upstreamFailed(503, "no-backend-in-time");
      }
      return;
    }
    if (now < this.#deadline) return;
    switch (this.#state) {
      case BUFFERING:
        // The body did not come: nothing of it went anywhere.
        this.#reject(408);
        return;
      case IDLE:
        this.#state = CLOSED;
        this.#socket.destroy();
        return;
      case CLOSED:
        // Lingered long enough (see #linger).
        this.#socket.destroy();
        return;
      case HEAD:
        this.#reject(408);
        return;
      case WAITING:
        // Still queued for a connection: give up on this backend.
        this.#backend?.connections.cancelWait(this);
        this.#upstreamFailed(503, "queue-timeout");
        return;
      case VALIDATING:
        // The validation thread took too long (or is stuck behind others): its verdict, if it ever
        // comes, is ignored.
        this.#validationTicket++;
        if (this.#check !== null && this.#operation >= 0) this.#countCheck(this.#check, this.#operation, VALIDATION.FAILED);
        this.#respondLocal(503, false, "validation-failed");
        return;
      case ACTIVE:
        if (!this.#requestDone) {
          // The client stopped sending its body.
          if (this.#cutMidResponse()) return;
          this.#abandonUpstream();
          this.#endInFlight();
          this.#rejectNow(408);
        } else if (this.#responseState === RESPONSE_HEAD) {
          this.#upstreamBroken(504);
        } else {
          this.#abortMidResponse();
        }
        return;
    }
  }

  /**
   * The minimum body rate, judged per window in which the proxy was reading from the client (a
   * client held back by a slow backend is not at fault). Too slow: 408, and the backend's connection,
   * if it had one, is cut so the partial request never completes there.
   */
  #bodyTooSlow(now: number): boolean {
    const min = this.#env.limits.minBodyBytesPerSecond;
    if (min === 0) return false;
    if (this.#clientPaused) {
      this.#rateWindowStart = now;
      this.#rateWindowBytes = 0;
      return false;
    }
    if (now - this.#rateWindowStart < BODY_RATE_WINDOW_MS) return false;
    if (this.#rateWindowBytes * 1000 >= min * (now - this.#rateWindowStart)) {
      this.#rateWindowStart = now;
      this.#rateWindowBytes = 0;
      return false;
    }
    if (this.#state === BUFFERING) {
      this.#reject(408);
    } else if (!this.#cutMidResponse()) {
      this.#abandonUpstream();
      this.#endInFlight();
      this.#rejectNow(408);
    }
    return true;
  }

  drain(): void {
    if (this.#state === IDLE) {
      this.#close();
    } else {
      this.#closeAfter = true;
    }
  }
}

function noop(): void {}

/**
 * A path that every backend reads as written: no dot segments ("/./", "/../", a final "/." or
 * "/.."), and no encoded dot, slash or backslash, nor a raw backslash, that a backend could decode
 * or normalise into one.
 */
function isPlainPath(target: string): boolean {
  const q = target.indexOf("?");
  const end = q < 0 ? target.length : q;
  // One scan of the characters, no strings or arrays made: this runs on every routed or checked request.
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x5c /* \ */) return false;
    if (c === 0x25 /* % */ && i + 2 < end) {
      const hi = target.charCodeAt(i + 1);
      const lo = target.charCodeAt(i + 2) | 0x20;
      if ((hi === 0x32 /* 2 */ && (lo === 0x65 /* e */ || lo === 0x66 /* f */)) || (hi === 0x35 /* 5 */ && lo === 0x63 /* c */)) return false;
    }
    // A segment (what follows a "/", or the start) that is "." or "..".
    if (c === 0x2e && (i === 0 || target.charCodeAt(i - 1) === 0x2f)) {
      let j = i + 1;
      if (j < end && target.charCodeAt(j) === 0x2e) j++;
      if (j === end || target.charCodeAt(j) === 0x2f) return false;
    }
  }
  return true;
}

/** Bodies up to this size are copied behind a rewritten head so that head and body leave in one write. */
const COALESCE_LIMIT = 16 * 1024;

/** buf[start, end): buf itself when that is all of it (the usual read: one whole response), else a view. */
function part(buf: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === buf.length ? buf : buf.subarray(start, end);
}

/**
 * A rewritten head and the first body bytes as one Buffer (one small copy) when the body part is
 * small; null when the two should go out back to back instead (one writev, no copy of a large body).
 */
function joinHeadAndBody(head: Buffer, buf: Buffer, end: number, bodyEnd: number): Buffer | null {
  const bodyLength = bodyEnd - end;
  if (bodyLength > COALESCE_LIMIT) return null;
  const out = Buffer.allocUnsafe(head.length + bodyLength);
  head.copy(out, 0);
  buf.copy(out, head.length, end, bodyEnd);
  return out;
}

/** "::ffff:127.0.0.1" is how a dual-stack socket shows an IPv4 peer; X-Forwarded-For wants the IPv4 form. */
function normaliseAddress(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
