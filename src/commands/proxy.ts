// `farmhand proxy --config FILE`: the balancer as a long-running service.

import { Balancer, loadConfigFile, type BalancerEvent } from "../../native-free-core/index.ts";

export async function runProxy(file: string): Promise<number> {
  const config = await loadConfigFile(file);
  const balancer = await Balancer.start(config, { onEvent: logEvent });
  for (const l of balancer.listeners) {
    log(`listener ${l.name} (${l.protocol}) listening on ${formatHost(l.address)}:${l.port}`);
  }
  if (balancer.adminUrl !== null) log(`admin API listening on ${balancer.adminUrl}`);
  log(`${config.workers} worker thread(s), pid ${process.pid}`);

  let reloading = Promise.resolve();
  process.on("SIGHUP", () => {
    reloading = reloading.then(async () => {
      try {
        await balancer.reload(await loadConfigFile(file));
        log(`reloaded ${file}`);
      } catch (error) {
        // A bad file leaves the running configuration untouched.
        log(`reload refused, keeping the running configuration: ${(error as Error).message}`);
      }
    });
  });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: draining (up to ${config.drainTimeoutMs} ms)`);
      balancer.shutdown().then(({ drained }) => {
        log(drained ? "drained, exiting" : "drain timeout reached, exiting");
        resolve(0);
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

function logEvent(event: BalancerEvent): void {
  switch (event.type) {
    case "worker-exit":
      return log(`worker ${event.index} exited (code ${event.code}${event.error === null ? "" : `: ${event.error}`}); replacing it${event.restartInMs === 0 ? "" : ` in ${event.restartInMs} ms`}`);
    case "backend-health":
      return log(`pool ${event.pool}: backend ${event.backend} is ${event.healthy ? "up" : "down"}`);
    case "backend-ejected":
      return log(`pool ${event.pool}: backend ${event.backend} ejected until ${new Date(event.until).toISOString()}`);
    case "backend-returned":
      return log(`pool ${event.pool}: backend ${event.backend} returned after ejection`);
    case "backend-drained":
      return log(`pool ${event.pool}: backend ${event.backend} drained`);
    case "accept-failed":
      return log(`listener ${event.listener}: ${event.count} connection(s) could not be accepted: ${event.code}${ACCEPT_HINTS[event.code] ?? ""}`);
    case "descriptors-exhausted":
      return log(`new connections cannot be accepted on any listener: ${event.code}${ACCEPT_HINTS[event.code]}`);
    case "descriptors-available":
      return log("file descriptors are available again: accepting connections");
    case "session-fault":
      return log(`worker ${event.index}: a connection handler failed ${event.count} time(s); the connection was closed and the worker serves on: ${event.error}`);
  }
}

const ACCEPT_HINTS: Record<string, string> = {
  EMFILE: " (out of file descriptors for this process: raise its limit, ulimit -n)",
  ENFILE: " (out of file descriptors system-wide)",
  ENOBUFS: " (out of socket buffers)",
  ENOMEM: " (out of memory)",
};

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} farmhand proxy: ${line}\n`);
}

function formatHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
