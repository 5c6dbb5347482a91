// Addresses, one way everywhere: a host (name, IPv4 or IPv6 literal without brackets) and a port.
// Brackets appear only when one is written next to a port, in one place (formatHostPort), and a
// loopback test exists once (isLoopback), for the balancer and the control plane alike.

import { BlockList, isIPv4, isIPv6 } from "node:net";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** "127.0.0.1:80", "[::1]:80". */
export function formatHostPort(a: HostPort): string {
  return `${formatHost(a.host)}:${a.port}`;
}

/** An IPv6 literal in brackets, anything else as it is. */
export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** "http://127.0.0.1:80". */
export function httpUrl(a: HostPort): string {
  return `http://${formatHostPort(a)}`;
}

/**
 * The host and port of an http(s) URL ("http://[::1]:8080/x" -> ::1, 8080), with the scheme's
 * default port when none is written; null for anything else.
 */
export function hostPortOfUrl(url: string): HostPort | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  const port = u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port };
}

/** "host:port" or "[v6]:port" -> HostPort; null when it is not that. */
export function parseHostPort(text: string): HostPort | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2], port };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** 127.0.0.0/8, ::1 (in any spelling, and IPv4-mapped 127/8 too), and "localhost". */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase();
  if (a === "localhost" || a === "localhost.") return true;
  if (isIPv4(a)) return LOOPBACK.check(a, "ipv4");
  return isIPv6(a) && LOOPBACK.check(a, "ipv6");
}
