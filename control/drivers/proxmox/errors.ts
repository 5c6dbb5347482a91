// The Proxmox driver's errors: one class per stable `code` (FARMHAND_PROXMOX_*).

import { FarmError } from "../../errors.ts";

/** A Proxmox API call failed (after retries, when the failure was transient). */
export class ProxmoxApiError extends FarmError {
  readonly code: string = "FARMHAND_PROXMOX_API_FAILED";
  readonly method: string;
  readonly path: string;
  /** The HTTP status, or null when no answer came (connection failure). */
  readonly status: number | null;
  /** The reason phrase (Proxmox puts its error message there). */
  readonly reason: string;
  constructor(method: string, path: string, status: number | null, reason: string, detail?: string, cause?: unknown) {
    super(`proxmox: ${method} ${path} failed${status !== null ? ` with ${status}` : ""}: ${reason}${detail ? ` ${detail}` : ""}`, { cause });
    this.name = "ProxmoxApiError";
    this.method = method;
    this.path = path;
    this.status = status;
    this.reason = reason;
  }
}

/** The API user lacks a permission (403): not retried. */
export class ProxmoxPermissionError extends ProxmoxApiError {
  override readonly code = "FARMHAND_PROXMOX_PERMISSION_DENIED";
  constructor(method: string, path: string, reason: string) {
    super(method, path, 403, reason, `(permission denied on ${path}: grant the API user/token the needed privilege there)`);
    this.name = "ProxmoxPermissionError";
  }
}

/** Logging in (username/password) failed. */
export class ProxmoxAuthError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_AUTH_FAILED";
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "ProxmoxAuthError";
  }
}

/** VmSpec.image maps to no template on the cluster. */
export class ProxmoxTemplateNotFoundError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_TEMPLATE_NOT_FOUND";
  readonly image: string;
  readonly template: string | number;
  /** The templates file's key for the image (its folder's name). */
  readonly key: string;
  /** Whether the templates file has that key (else the template was looked up by the key as its name). */
  readonly mapped: boolean;
  constructor(image: string, template: string | number, key: string = image, mapped = true) {
    super(mapped
      ? `proxmox: image ${JSON.stringify(key)}: template ${JSON.stringify(template)} (its entry in the templates file) was not found on the cluster (GET /cluster/resources?type=vm has no template with that VMID or name)`
      : `proxmox: no template for image ${JSON.stringify(key)} (${image}): the templates file has no key ${JSON.stringify(key)}, and the cluster has no template named ${JSON.stringify(key)}; ` +
        `add "${key}": <template VMID or name> to the file given with --templates (farmhand pve-emulator prints one)`);
    this.name = "ProxmoxTemplateNotFoundError";
    this.image = image;
    this.template = template;
    this.key = key;
    this.mapped = mapped;
  }
}

/** A Proxmox task (UPID) ended with an exit status other than OK / WARNINGS: n. */
export class ProxmoxTaskError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_TASK_FAILED";
  readonly upid: string;
  readonly exitStatus: string;
  /** The last lines of the task's log. */
  readonly logTail: string;
  constructor(what: string, upid: string, exitStatus: string, logTail: string) {
    super(`proxmox: ${what} failed: ${exitStatus} (task ${upid}); its log ends:\n${logTail}`);
    this.name = "ProxmoxTaskError";
    this.upid = upid;
    this.exitStatus = exitStatus;
    this.logTail = logTail;
  }
}

/** Something did not happen in time (a task, a lock release, the agent, the service). */
export class ProxmoxTimeoutError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_TIMEOUT";
  constructor(message: string) {
    super(message);
    this.name = "ProxmoxTimeoutError";
  }
}

/** No allowed node is online. */
export class ProxmoxNoNodeError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_NO_NODE";
  constructor(message: string) {
    super(message);
    this.name = "ProxmoxNoNodeError";
  }
}

/** The VMID names no VM on the cluster. */
export class ProxmoxVmNotFoundError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_VM_NOT_FOUND";
  readonly id: string;
  constructor(id: string) {
    super(`proxmox: VM ${JSON.stringify(id)} does not exist on the cluster`);
    this.name = "ProxmoxVmNotFoundError";
    this.id = id;
  }
}

/** A VM was started but did not get an address or did not serve /.well-known/farmhand in time. */
export class ProxmoxVmStartError extends FarmError {
  readonly code = "FARMHAND_PROXMOX_VM_START_FAILED";
  readonly id: string;
  readonly output: string;
  constructor(message: string, id: string, output: string) {
    super(message);
    this.name = "ProxmoxVmStartError";
    this.id = id;
    this.output = output;
  }
}
