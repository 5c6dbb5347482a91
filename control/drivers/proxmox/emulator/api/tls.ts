// A fresh self-signed certificate for the emulator's HTTPS, for its host's IP address.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export function selfSignedCertificate(host: string): { key: string; cert: string } {
  // openssl is the only easy way to a certificate in Node without dependencies.
  const dir = mkdtempSync(path.join(os.tmpdir(), "pve-emulator-tls-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-subj", `/CN=${host}`, "-addext", `subjectAltName=IP:${host}`,
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    return { key: readFileSync(path.join(dir, "key.pem"), "utf8"), cert: readFileSync(path.join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
