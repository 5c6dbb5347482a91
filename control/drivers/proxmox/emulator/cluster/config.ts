// A VM's configuration (what /etc/pve/qemu-server/<vmid>.conf holds): which keys a client may set
// and how they are checked, the digest that detects concurrent edits, tags as Proxmox stores them,
// and the configs of a template and of its clones.

import { createHash, randomBytes } from "node:crypto";
import { fail, paramError } from "../errors.ts";
import type { EmulatorTemplate } from "../options.ts";

export type VmConfig = Record<string, string | number>;

/** Keys that GET /config answers as numbers. */
const NUMERIC_KEYS = new Set(["cores", "sockets", "template", "onboot", "protection", "balloon", "vcpus"]);
const CONFIG_KEY = /^(name|description|tags|memory|cores|sockets|vcpus|cpu|balloon|agent|onboot|protection|ostype|boot|ciuser|cipassword|citype|ciupgrade|sshkeys|nameserver|searchdomain|ipconfig\d+|net\d+|scsi\d+|virtio\d+|ide\d+|sata\d+|scsihw|serial\d+|vga|machine|bios|cicustom|startup|hotplug|numa|kvm|localtime|tablet)$/;
export const DNS_NAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$/;
/** Parameters of a config update that are not config keys. */
const UPDATE_CONTROLS = new Set(["digest", "delete", "skiplock", "revert", "background_delay"]);
const NOT_IN_SCHEMA = "property is not defined in schema and the schema does not allow additional properties";

/** Tags as Proxmox stores them: split on ; , or spaces, lower-cased, sorted, de-duplicated, ";"-joined. */
export function normalizeTags(value: string): string {
  const tags = value.split(/[;,\s]+/).filter((t) => t !== "");
  const sorted = [...tags].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const t of sorted) {
    const l = t.toLowerCase();
    if (seen.has(l)) continue;
    seen.add(l);
    out.push(l);
  }
  return out.join(";");
}

export const configDigest = (config: VmConfig): string =>
  createHash("sha1").update(Object.keys(config).sort().map((k) => `${k}: ${config[k]}\n`).join("")).digest("hex");

/** Where a VM's config lives, as Proxmox names it in its errors. */
export const confPath = (node: string, vmid: number): string => `nodes/${node}/qemu-server/${vmid}.conf`;

/** A valid-looking MAC for a new net0. */
const newMac = () => "BC:24:11:" + [0, 0, 0].map(() => randomBytes(1)[0].toString(16).toUpperCase().padStart(2, "0")).join(":");

export const isTemplate = (config: VmConfig): boolean => config.template === 1;

export function agentEnabled(config: VmConfig): boolean {
  const agent = String(config.agent ?? "0");
  return agent.startsWith("1") || /enabled=1/.test(agent);
}

export function templateConfig(vmid: number, t: EmulatorTemplate): VmConfig {
  const config: VmConfig = {
    name: t.name,
    template: 1,
    memory: String(t.memory ?? 512),
    cores: t.cores ?? 1,
    sockets: 1,
    agent: "1",
    ostype: "l26",
    scsihw: "virtio-scsi-pci",
    scsi0: `local-lvm:base-${vmid}-disk-0,size=8G`,
    ide2: `local-lvm:vm-${vmid}-cloudinit,media=cdrom`,
    net0: `virtio=${newMac()},bridge=vmbr0`,
    boot: "order=scsi0",
  };
  if (t.tags !== undefined) config.tags = normalizeTags(t.tags);
  return config;
}

/** The config of a clone of `source` under `newid`: its own MAC and disks, locked until the clone is done. */
export function cloneConfig(source: VmConfig, sourceVmid: number, newid: number, name: string | undefined, description: string | undefined): VmConfig {
  const config: VmConfig = { ...source };
  delete config.template;
  delete config.lock;
  config.name = name ?? `Copy-of-VM-${source.name ?? sourceVmid}`;
  if (description !== undefined) config.description = description;
  config.net0 = String(config.net0 ?? "virtio=,bridge=vmbr0").replace(/=([0-9A-F]{2}:){5}[0-9A-F]{2}/i, `=${newMac()}`);
  for (const k of Object.keys(config)) {
    if (/^(scsi|virtio|ide|sata)\d+$/.test(k)) config[k] = String(config[k]).replace(/(base|vm)-\d+-/, `vm-${newid}-`);
  }
  config.lock = "clone";
  return config;
}

/**
 * Checks a config update (the part of update_vm that POST and PUT share) and returns what applies
 * it: a parameter error names every bad key; a stale digest is refused as Proxmox does.
 */
export function prepareConfigUpdate(config: VmConfig, params: Readonly<Record<string, string>>): () => void {
  const errors: Record<string, string> = {};
  const set: VmConfig = {};
  for (const [k, v] of Object.entries(params)) {
    if (UPDATE_CONTROLS.has(k)) continue;
    if (!CONFIG_KEY.test(k)) {
      errors[k] = NOT_IN_SCHEMA;
      continue;
    }
    if (k === "name" && !DNS_NAME.test(v)) errors[k] = "value does not look like a valid DNS name";
    else if (k === "tags") {
      const bad = v.split(/[;,\s]+/).filter((t) => t !== "").find((t) => !TAG.test(t));
      if (bad !== undefined) errors[k] = `invalid format - invalid characters in tag '${bad}'`;
      else set[k] = normalizeTags(v);
    } else if (k === "memory" && !/^(current=)?\d+$/.test(v)) errors[k] = `invalid format - value '${v}' does not look like a valid memory size`;
    else if (NUMERIC_KEYS.has(k)) {
      if (!/^\d+$/.test(v)) errors[k] = `type check ('integer') failed - got '${v}'`;
      else set[k] = Number(v);
    } else if (k === "sshkeys" && /\s/.test(v)) {
      // Proxmox wants them URL-encoded: a raw key (with its spaces) is refused.
      errors[k] = "invalid urlencoded string: " + v.slice(0, 40);
    } else set[k] = k === "memory" ? v.replace(/^current=/, "") : v;
  }
  const del = (params.delete ?? "").split(/[,;\s]+/).filter((d) => d !== "");
  for (const d of del) if (!CONFIG_KEY.test(d)) errors.delete = `invalid format - '${d}' is not a valid config key`;
  if (Object.keys(errors).length > 0) throw paramError(errors);
  if (params.digest !== undefined && params.digest !== configDigest(config)) {
    throw fail("detected modified configuration - file changed by other user? Try again.");
  }
  return () => {
    for (const d of del) delete config[d];
    Object.assign(config, set);
  };
}
