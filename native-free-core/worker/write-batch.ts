// Coalesces the writes of one event-loop turn. Sockets written during the poll phase stay corked
// until the check phase, so each leaves in one syscall however many pieces were written to it, and
// the peers are woken once per turn instead of once per event: fewer syscalls and fewer context
// switches, which on a machine shared with the load generator and the backends cost more than the
// syscalls themselves.

import type net from "node:net";

export class WriteBatch {
  #held: net.Socket[] = [];
  #scheduled = false;

  /** Call before writing to `socket`: its writes of this turn go out together at its end. */
  hold(socket: net.Socket): void {
    if (socket.writableCorked !== 0) return;
    socket.cork();
    this.#held.push(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#release);
    }
  }

  #release = (): void => {
    this.#scheduled = false;
    const held = this.#held;
    this.#held = [];
    for (let i = 0; i < held.length; i++) {
      const socket = held[i];
      if (socket.writableCorked !== 0) socket.uncork();
    }
  };
}
