// A service's log: one line per event, `<ISO time> <vm> <message>`, on stdout (errors on stderr).
// A VM's output is its log file (the local driver appends both streams to it), so every line says
// when it happened and which VM wrote it, also after lines of several VMs are put side by side.

export interface ServiceLog {
  info(message: string): void;
  /** `cause` (an Error) follows the line, with its stack. */
  error(message: string, cause?: unknown): void;
}

export function serviceLog(who: string): ServiceLog {
  const line = (message: string) => `${new Date().toISOString()} ${who} ${message}`;
  return {
    info: (message) => console.log(line(message)),
    error: (message, cause) => (cause === undefined ? console.error(line(message)) : console.error(line(message), cause)),
  };
}
