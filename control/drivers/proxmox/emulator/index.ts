// A Proxmox VE REST API emulator: the stand-in for a Proxmox cluster in tests and behind `farmhand
// pve-emulator`. It serves the part of /api2/json a farmhand driver uses, with the real API's
// envelopes, status codes, reason-phrase errors, async tasks (UPIDs), locks and guest agent. A
// powered-on VM runs its template's image as a real local process on its own loopback address, so
// traffic really flows; that process is the guest's service, apart from the VM's power state.
//
//   cluster/   the model: nodes, VMs, VMIDs, addresses, config and tags, locks, tasks, faults, time;
//              qm.ts changes a VM as `qm` does
//   guest/     what runs inside a VM: its service process, its metadata and environment, its agent
//   api/       the REST side: server, envelopes, auth (tokens, tickets, CSRF), routes, views

import { Auth } from "./api/auth.ts";
import { apiHandler, type RecordedRequest } from "./api/handler.ts";
import { allRoutes } from "./api/routes/index.ts";
import { serveApi, type ApiServer } from "./api/server.ts";
import { Cluster, type EmulatorState } from "./cluster/cluster.ts";
import { noFaults, type Faults } from "./cluster/faults.ts";
import { Qm, SHELL_USER } from "./cluster/qm.ts";
import { ClusterTime } from "./cluster/time.ts";
import { Guests } from "./guest/guests.ts";
import { EmulatorUsageError } from "./errors.ts";
import { resolveOptions, type EmulatorOptions } from "./options.ts";

export type { EmulatorNodeOptions, EmulatorOptions, EmulatorTemplate } from "./options.ts";
export type { EmulatedVm, EmulatorState, PowerState } from "./cluster/cluster.ts";
export type { EmulatedTask } from "./cluster/tasks.ts";
export type { Faults, TaskFault } from "./cluster/faults.ts";
export type { RecordedRequest } from "./api/handler.ts";
export type { GuestProcess } from "./guest/process.ts";
export { normalizeTags } from "./cluster/config.ts";
export { EmulatorUsageError } from "./errors.ts";
export { parseGuestMetadata, type GuestMetadata } from "./guest/metadata.ts";

/** What happens to a VM outside the API: on its node's shell, or inside its guest. */
export interface EmulatorOutside {
  /**
   * `qm stop VMID` on its node: the VM is stopped at the hypervisor (a qmstop task by root@pam, as
   * the shell runs it). Resolves with the task's exit status once it ends.
   */
  qmStop(vmid: number): Promise<string>;
  /** The VM's QEMU dies on its node (the OOM killer, a crash): it is stopped at once, with no task. */
  qemuDied(vmid: number): Promise<void>;
  /**
   * Signals the VM's guest service (SIGKILL: it dies; SIGSTOP: it hangs; SIGCONT: it goes on). The
   * VM stays running either way; only its service stops answering. False when no guest runs.
   */
  signalGuest(vmid: number, signal: NodeJS.Signals): boolean;
}

export interface Emulator {
  /** Base URL, e.g. "http://127.0.0.1:34567/api2/json". */
  readonly url: string;
  /** The origin, e.g. "http://127.0.0.1:34567". */
  readonly origin: string;
  readonly token: { readonly id: string; readonly secret: string; readonly header: string };
  readonly user: string;
  readonly password: string;
  readonly state: EmulatorState;
  readonly faults: Faults;
  readonly requests: RecordedRequest[];
  /** Write requests (anything but GET) being handled now, and the most there were at once. */
  readonly writes: { inFlight: number; peak: number };
  /** PEM of the self-signed certificate when tls is on. */
  readonly certificate: string | null;
  /** TLS handshakes so far when tls is on: full ones, and those that resumed an earlier session. */
  readonly handshakes: { full: number; resumed: number };
  readonly outside: EmulatorOutside;
  /** Resolves once every task now running has ended. */
  idle(): Promise<void>;
  /** Stops the server and kills every guest process. */
  close(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const settings = resolveOptions(options);
  const time = new ClusterTime(settings.now);
  const cluster = new Cluster(settings, noFaults(), time);
  const guests = new Guests(time, settings);
  const qm = new Qm(cluster, guests, settings);
  const auth = new Auth(settings, time);
  const requests: RecordedRequest[] = [];
  const routes = allRoutes({ cluster, qm, auth, addressDelayMs: settings.addressDelayMs });
  let server: ApiServer;
  try {
    server = await serveApi(settings, apiHandler({ cluster, auth, routes, requests }));
  } catch (err) {
    await guests.close();
    throw err;
  }

  const vmOf = (vmid: number) => {
    const vm = cluster.vms.get(vmid);
    if (vm === undefined) throw new EmulatorUsageError(`no VM ${vmid} on the cluster`);
    return vm;
  };
  const outside: EmulatorOutside = {
    async qmStop(vmid) {
      const vm = vmOf(vmid);
      const task = cluster.tasks.all.get(qm.stop(vm, false, SHELL_USER))!;
      await task.done;
      return task.exitstatus ?? "unknown";
    },
    qemuDied: (vmid) => qm.qemuDied(vmOf(vmid)),
    signalGuest(vmid, signal) {
      const guest = vmOf(vmid).proc;
      if (guest === null || guest.exited) return false;
      guest.signal(signal);
      return true;
    },
  };

  return {
    url: `${server.origin}/api2/json`,
    origin: server.origin,
    token: { id: auth.tokenId, secret: auth.tokenSecret, header: auth.tokenHeader },
    user: auth.user,
    password: auth.password,
    state: cluster.state,
    faults: cluster.faults,
    requests,
    writes: server.writes,
    certificate: server.certificate,
    handshakes: server.handshakes,
    outside,
    idle: () => cluster.tasks.idle(),
    async close() {
      if (cluster.closed) return;
      cluster.closed = true;
      await server.close();
      await cluster.tasks.settled();
      await guests.close();
    },
  };
}
