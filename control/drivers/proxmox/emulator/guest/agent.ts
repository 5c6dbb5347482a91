// The QEMU guest agent: a daemon of its own inside the guest, so it answers while the VM runs, whether
// or not the guest's service does. It starts answering bootDelayMs after the VM powers on, and reports
// eth0's addresses addressDelayMs later (before that, eth0 has no "ip-addresses", as while DHCP runs).

import { agentEnabled } from "../cluster/config.ts";
import type { EmulatedVm } from "../cluster/cluster.ts";
import { fail } from "../errors.ts";

/** GET .../agent/network-get-interfaces as the agent answers it at monotonic time `now`. */
export function networkInterfaces(vm: EmulatedVm, now: number, addressDelayMs: number): { result: unknown[] } {
  if (vm.power !== "running") throw fail(`VM ${vm.vmid} is not running`);
  if (!agentEnabled(vm.config)) throw fail("No QEMU guest agent configured");
  if (vm.agentAt === null || now < vm.agentAt) throw fail("QEMU guest agent is not running");
  const mac = /=(([0-9A-F]{2}:){5}[0-9A-F]{2})/i.exec(String(vm.config.net0 ?? ""))?.[1]?.toLowerCase() ?? "bc:24:11:00:00:01";
  const eth0: Record<string, unknown> = {
    name: "eth0",
    "hardware-address": mac,
    statistics: { "rx-bytes": 0, "tx-bytes": 0, "rx-packets": 0, "tx-packets": 0, "rx-errs": 0, "tx-errs": 0, "rx-dropped": 0, "tx-dropped": 0 },
  };
  if (now >= vm.agentAt + addressDelayMs) {
    eth0["ip-addresses"] = [
      { "ip-address-type": "ipv4", "ip-address": vm.address, prefix: 8 },
      { "ip-address-type": "ipv6", "ip-address": `fe80::be24:11ff:fe00:${(vm.vmid % 65536).toString(16)}`, prefix: 64 },
    ];
  }
  const lo = {
    name: "lo",
    "hardware-address": "00:00:00:00:00:00",
    "ip-addresses": [
      { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 },
      { "ip-address-type": "ipv6", "ip-address": "::1", prefix: 128 },
    ],
  };
  return { result: [lo, eth0] };
}
