// A file only its owner reads, written whole: to a temporary name, synced, then renamed over the old
// one, so a reader (another farmhand process, Prometheus reading its targets) never sees half of it
// and a crash leaves the old file or the new, never a mix.

import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
