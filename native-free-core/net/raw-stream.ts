// Reads and writes of one TCP connection, straight on its libuv handle instead of through Node's
// stream machinery. A net.Socket costs, per read, a Readable.push with its buffering state, an
// 'data' emit and a nextTick; per write, a Writable.write with cork bookkeeping, a fresh WriteWrap, an
// afterWrite tick. For a proxy that only moves Buffers those are most of its user-space time (the
// PERFORMANCE.md profile). Here a read is one call from C++ into `onread`, and a turn's writes to a
// socket leave in one writeBuffer or writev call, with one request object reused for every write
// that completes at once (the usual case: libuv tries the write synchronously and only keeps a
// request for what the kernel would not take).
//
// The socket stays the owner of everything else: connecting, end-of-stream (a read of EOF or an
// error is handed to Node's own handler, which emits 'end', 'error' and 'close' as always), shutdown
// and destroy. Where the handle is not a plain libuv stream (or the bindings are missing) the same
// interface falls back to 'data' events and corked socket.write.

import type net from "node:net";

/** What Node's stream_wrap binding offers: the shared read/write state and the write request class. */
interface StreamWrapBinding {
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  readonly kLastWriteWasAsync: number;
  readonly WriteWrap: new () => WriteRequest;
}

interface WriteRequest {
  handle: StreamHandle | null;
  /** A lane this write holds (writeLent): back to the spares when the write is done. */
  lane: Buffer | null;
  oncomplete: ((status: number) => void) | null;
  async: boolean;
  /** Keeps the written Buffers alive while libuv still holds them. */
  buffer: unknown;
  /** The stream an asynchronous write belongs to. */
  stream: RawStream | null;
  bytes: number;
}

interface StreamHandle {
  /** Returns the Buffer the next read is to go into, or undefined for the same one again. */
  onread: (arrayBuffer?: ArrayBuffer) => unknown;
  useUserBuffer?(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteRequest, data: Buffer): number;
  writev(req: WriteRequest, chunks: readonly Buffer[], allBuffers: boolean): number;
  [RAW]?: RawStream;
}

const RAW = Symbol("farmhand.rawStream");

/**
 * The binding, or null where this Node does not offer it, or where FARMHAND_RAW_STREAMS=off asks
 * for Node's own stream machinery (an escape hatch, and how the tests run the fallback): then every
 * stream falls back.
 */
const binding: StreamWrapBinding | null = (() => {
  if (process.env.FARMHAND_RAW_STREAMS === "off") return null;
  try {
    // process.binding is deprecated for general use but kept for exactly this binding's users; it
    // is read once, and a Node without it only costs the fast path.
    const b = (process as unknown as { binding(name: string): StreamWrapBinding }).binding("stream_wrap");
    return b.streamBaseState instanceof Int32Array && typeof b.WriteWrap === "function" ? b : null;
  } catch {
    return null;
  }
})();
const state = binding?.streamBaseState;
/** Whether streams read and write on their libuv handles here (false: 'data' events and socket.write). */
export const RAW_STREAMS = binding !== null;

const NOTHING = Buffer.alloc(0);

/** Past this many bytes not yet taken by the kernel, write() says to stop (as a socket's highWaterMark). */
const HIGH_WATER = 64 * 1024;

/**
 * Every handle of this thread reads into this one buffer (libuv's usual read size), and each read
 * is copied out at once into a slab that many reads share (unless read in place or lent: see
 * readInPlace and lendReads). Otherwise every read costs a 64 KiB malloc, a realloc down to its
 * size, a free and a new ArrayBuffer; a copy of a few hundred bytes is far cheaper. Reads are
 * handled one at a time, so one buffer serves every socket.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
/** The most one read delivers: a read this long is likely one of many (a bulk transfer). */
export const READ_BYTES = READ_BUFFER.length;
const SLAB_SIZE = 256 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

/**
 * `data` copied into memory of its own (a slice of the current slab): what an owner that reads in
 * place (RawStream.readInPlace) does with the bytes it keeps past the call.
 */
export function keep(data: Buffer): Buffer {
  return copyOut(data, data.length);
}

/**
 * Lanes: read buffers of one stream's own, for an owner that passes each read straight on to another
 * socket (lendReads, writeLent). A body that streams through is then neither copied nor allocated
 * per read; the slabs it would take (20 MB a second of ArrayBuffers for two 10 MB bodies) are what
 * makes V8 run a full collection every few hundred milliseconds. A lane a write still holds is
 * replaced at the next read, and comes back here when that write completes.
 */
const MAX_SPARE_LANES = 16;
const spareLanes: Buffer[] = [];

function takeLane(): Buffer {
  return spareLanes.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
}

function giveLane(lane: Buffer): void {
  if (spareLanes.length < MAX_SPARE_LANES) spareLanes.push(lane);
}

/** The first `n` bytes of `data` in a Buffer of their own (a slice of the current slab). */
function copyOut(data: Buffer, n: number): Buffer {
  if (n > SLAB_SIZE - slabUsed) {
    if (n > SLAB_SIZE / 4) {
      // A large read gets its own memory rather than retiring most of a slab.
      const own = Buffer.allocUnsafeSlow(n);
      data.copy(own, 0, 0, n);
      return own;
    }
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const start = slabUsed;
  data.copy(slab, start, 0, n);
  // Keeps slices 8-byte aligned, as Buffer's own pool does.
  slabUsed = (start + n + 7) & ~7;
  return slab.subarray(start, start + n);
}

export class RawStream {
  readonly socket: net.Socket;
  readonly #onData: (data: Buffer) => void;
  readonly #onDrain: () => void;
  /** The handle being driven directly, or null in fallback mode. */
  #handle: StreamHandle | null = null;
  /** Node's own onread, for end-of-stream and errors. */
  #nodeOnread: ((this: StreamHandle, ab?: ArrayBuffer) => unknown) | null = null;
  /**
   * This turn's writes, leaving together at its end: the first alone (the usual case, one Buffer per socket per turn, which needs
   * no array), and all of them in order once there is a second.
   */
  #first: Buffer | null = null;
  #more: Buffer[] | null = null;
  #queued = 0;
  /** Bytes in writes libuv has not finished (the kernel's buffer was full). */
  #inFlight = 0;
  /** Waiting for the writes made so far to leave (afterWrites). */
  #afterWrites: (() => void)[] | null = null;
  #needDrain = false;
  #reading = true;
  #ended = false;
  /**
   * Set by an owner that copies every byte it reads into memory of its own at once (a body gathered
   * whole): reads then reach it as a view of the thread's read buffer, valid only during the call,
   * instead of a copy in a slab it would copy again. Memory allocated per byte read is what makes V8
   * run full collections on a thread carrying large bodies.
   */
  readInPlace = false;
  #lendReads = false;
  /** What the handle reads into now: READ_BUFFER, or a lane. */
  #readingInto: Buffer = READ_BUFFER;
  /** The lane being read into is held by a write (writeLent): the next read goes into another. */
  #laneHeld = false;

  constructor(socket: net.Socket, onData: (data: Buffer) => void, onDrain: () => void) {
    this.socket = socket;
    this.#onData = onData;
    this.#onDrain = onDrain;
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    if (binding !== null && handle !== null && typeof handle.writeBuffer === "function" && typeof handle.writev === "function") {
      this.#handle = handle;
      this.#nodeOnread = handle.onread;
      handle[RAW] = this;
      handle.onread = onRead;
      handle.useUserBuffer?.(READ_BUFFER);
    } else {
      socket.on("data", onData);
      socket.on("drain", onDrain);
    }
  }

  /**
   * Set by an owner that passes the bytes it reads straight on to another socket (a body streaming
   * upstream): reads reach it as views, into a lane of this stream's own from the next read on, to
   * be given to that socket's writeLent or copied (keep) before the call returns. No effect on a
   * stream without a raw handle, which reads as before.
   */
  get lendReads(): boolean {
    return this.#lendReads;
  }

  set lendReads(on: boolean) {
    this.#lendReads = on && this.#handle !== null;
  }

  /**
   * Writes `view` (a read of `lender`, made while it lends its reads) now, after whatever this turn
   * queued, instead of at the end of the turn: the lender's next read may go into the same memory.
   * A view of the lender's lane is not copied; if the kernel does not take it whole, the write holds
   * the lane, and the lender reads into another. Anything else is copied first. Returns write()'s answer.
   */
  writeLent(view: Buffer, lender: RawStream): boolean {
    const handle = this.#handle;
    const lane = lender.#readingInto;
    if (handle === null || this.#ended || view.length === 0 || lane === READ_BUFFER || view.buffer !== lane.buffer || lender.#laneHeld ||
      (this.socket as unknown as { _handle: StreamHandle | null })._handle !== handle) {
      return this.write(keep(view));
    }
    const queued = this.#first === null ? null : (this.#more ?? [this.#first]);
    const bytes = this.#queued + view.length;
    this.#first = null;
    this.#more = null;
    this.#queued = 0;
    if (queued !== null) queued.push(view);
    if (this.#send(handle, view, queued, bytes, lane)) lender.#laneHeld = true;
    return !this.#needDrain;
  }

  /** Queues `data` for the end of this turn; false when the peer is not keeping up (wait for onDrain). */
  write(data: Buffer): boolean {
    if (this.#handle === null) {
      hold(this);
      return this.socket.write(data);
    }
    if (this.#ended || data.length === 0) return true;
    if (this.#first === null) {
      this.#first = data;
      schedule(this);
    } else if (this.#more === null) {
      this.#more = [this.#first, data];
    } else {
      this.#more.push(data);
    }
    this.#queued += data.length;
    if (this.#queued + this.#inFlight > HIGH_WATER) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /**
   * Calls `done` once every write made so far has left, or failed (at once when none waits): the
   * Buffers given to them are referenced no more, and their memory may be used again.
   */
  afterWrites(done: () => void): void {
    if (this.writesSettled) return done();
    // Without a raw handle: the socket calls a write back once those before it have left, or failed.
    if (this.#handle === null) this.socket.write(NOTHING, () => done());
    else (this.#afterWrites ??= []).push(done);
  }

  #settle(): void {
    const waiting = this.#afterWrites;
    if (waiting === null || this.#first !== null || this.#inFlight !== 0) return;
    this.#afterWrites = null;
    for (const done of waiting) done();
  }

  /** Nothing written is waiting: every Buffer given to write() has left, so none is referenced any more. */
  get writesSettled(): boolean {
    if (this.#handle === null) return this.socket.writableLength === 0;
    return this.#first === null && this.#inFlight === 0;
  }

  /** Writes what this turn queued, now. */
  flush(): void {
    const handle = this.#handle;
    const first = this.#first;
    if (handle === null || first === null) return;
    const more = this.#more;
    this.#first = null;
    this.#more = null;
    const bytes = this.#queued;
    this.#queued = 0;
    // A handle the socket has let go of (destroyed) takes no writes.
    if ((this.socket as unknown as { _handle: StreamHandle | null })._handle !== handle) return this.#settle();
    this.#send(handle, first, more, bytes, null);
  }

  /**
   * Hands `data` (or, when `several` is given, those Buffers in order) to libuv at once. What the
   * kernel does not take libuv finishes later, holding the Buffers, and `lane` if any, until it calls
   * back. Returns whether the write waits so.
   */
  #send(handle: StreamHandle, data: Buffer, several: Buffer[] | null, bytes: number, lane: Buffer | null): boolean {
    const req = spareRequest ?? new binding!.WriteWrap();
    spareRequest = null;
    req.handle = handle;
    req.oncomplete = null;
    req.async = false;
    const err = several === null ? handle.writeBuffer(req, data) : handle.writev(req, several, true);
    if (err !== 0) {
      spareRequest = req;
      this.socket.destroy();
      this.#settle();
      return false;
    }
    if (state![binding!.kLastWriteWasAsync] === 0) {
      // Written whole: libuv kept nothing, so the request object serves the next write.
      spareRequest = req;
      if (this.#needDrain && this.#inFlight === 0) this.#drained();
      this.#settle();
      return false;
    }
    // The kernel took part of it; libuv finishes the rest and calls back, holding these Buffers until then.
    req.buffer = several ?? data;
    req.stream = this;
    req.bytes = bytes;
    req.lane = lane;
    req.oncomplete = onWriteComplete;
    this.#inFlight += bytes;
    if (this.#inFlight > HIGH_WATER) this.#needDrain = true;
    return true;
  }

  /** @internal libuv finished an asynchronous write. */
  writeDone(bytes: number, status: number): void {
    this.#inFlight -= bytes;
    this.#settle();
    if (status < 0) {
      this.socket.destroy();
      return;
    }
    if (this.#needDrain && this.#inFlight + this.#queued <= HIGH_WATER) this.#drained();
  }

  #drained(): void {
    this.#needDrain = false;
    this.#onDrain();
  }

  /** Ends the connection after what was written (optionally `data` first). */
  end(data?: Buffer): void {
    if (data !== undefined) this.write(data);
    this.flush();
    this.#ended = true;
    this.socket.end();
  }

  /** end(), then destroy once the end is sent. */
  endAndDestroy(data?: Buffer): void {
    this.end(data);
    this.socket.destroySoon();
  }

  pause(): void {
    if (this.#handle === null) {
      this.socket.pause();
      return;
    }
    if (!this.#reading) return;
    this.#reading = false;
    if ((this.socket as unknown as { _handle: StreamHandle | null })._handle === this.#handle) this.#handle.readStop();
  }

  resume(): void {
    if (this.#handle === null) {
      this.socket.resume();
      return;
    }
    if (this.#reading) return;
    this.#reading = true;
    if ((this.socket as unknown as { _handle: StreamHandle | null })._handle === this.#handle) this.#handle.readStart();
  }

  /**
   * @internal One read from the handle: data goes to the owner; EOF and errors to Node. Returns the
   * buffer the handle reads into next, when that changes (lanes).
   */
  read(handle: StreamHandle, arrayBuffer: ArrayBuffer | undefined): Buffer | undefined {
    const nread = state![binding!.kReadBytesOrError];
    if (nread > 0) {
      // Into READ_BUFFER or a lane (useUserBuffer), or, where a handle has no such method, a buffer of its own.
      if (arrayBuffer !== undefined) {
        this.#onData(Buffer.from(arrayBuffer, state![binding!.kArrayBufferOffset], nread));
        return undefined;
      }
      const into = this.#readingInto;
      this.#onData(this.readInPlace || this.#lendReads ? into.subarray(0, nread) : copyOut(into, nread));
      return this.#nextReadBuffer();
    }
    this.#nodeOnread!.call(handle, arrayBuffer);
    return undefined;
  }

  #nextReadBuffer(): Buffer | undefined {
    const into = this.#readingInto;
    if (this.#lendReads) {
      if (into !== READ_BUFFER && !this.#laneHeld) return undefined;
      // The held lane is the write's now: it gives it back when done.
      this.#laneHeld = false;
      return (this.#readingInto = takeLane());
    }
    if (into === READ_BUFFER) return undefined;
    if (!this.#laneHeld) giveLane(into);
    this.#laneHeld = false;
    return (this.#readingInto = READ_BUFFER);
  }
}

/** Called by C++ with the handle as `this`. */
function onRead(this: StreamHandle, arrayBuffer?: ArrayBuffer): Buffer | undefined {
  const raw = this[RAW];
  return raw === undefined ? undefined : raw.read(this, arrayBuffer);
}

function onWriteComplete(this: WriteRequest, status: number): void {
  const stream = this.stream;
  const bytes = this.bytes;
  const lane = this.lane;
  this.stream = null;
  this.buffer = null;
  this.lane = null;
  if (lane !== null) giveLane(lane);
  stream?.writeDone(bytes, status);
}

/** One request object kept for the next write that completes synchronously. */
let spareRequest: WriteRequest | null = null;

// ---- the turn's writes ------------------------------------------------------------------------------
//
// Streams written during the poll phase are flushed in the check phase (setImmediate), so each
// socket's writes of a turn leave in one syscall and the peers are woken once per turn, not once per
// event: fewer syscalls and fewer context switches on a machine shared with the load generator.

/**
 * Streams with writes this turn. Two arrays take turns (one filled while the other is flushed) and
 * are only ever written by index: no array is allocated, grown or truncated per turn.
 */
let pending: (RawStream | null)[] = [];
let pendingCount = 0;
let flushing: (RawStream | null)[] = [];
let scheduled = false;

function schedule(stream: RawStream): void {
  pending[pendingCount++] = stream;
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}

function flushAll(): void {
  scheduled = false;
  const streams = pending;
  const n = pendingCount;
  pending = flushing;
  pendingCount = 0;
  flushing = streams;
  for (let i = 0; i < n; i++) {
    const stream = streams[i]!;
    streams[i] = null;
    stream.flush();
  }
  const corked = held;
  held = [];
  for (let i = 0; i < corked.length; i++) if (corked[i].socket.writableCorked !== 0) corked[i].socket.uncork();
}

/** Fallback mode: the socket is corked for the rest of the turn instead. */
let held: RawStream[] = [];

function hold(stream: RawStream): void {
  if (stream.socket.writableCorked !== 0) return;
  stream.socket.cork();
  held.push(stream);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}
