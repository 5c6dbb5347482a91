// How farm commands choose their driver, in words and in errors: kept apart from drivers.ts so the
// command line can print its help and classify errors without loading any driver.

export const DRIVER_HELP = `drivers: --driver local (the default: VMs are processes on 127.0.x.y) or --driver proxmox, configured by
  FARMHAND_PVE_URL      the API address, e.g. https://HOST:8006
  FARMHAND_PVE_TOKEN    USER@REALM!TOKENID=SECRET   (or FARMHAND_PVE_USER and FARMHAND_PVE_PASSWORD)
  FARMHAND_PVE_CA       a CA certificate file to trust, or FARMHAND_PVE_FINGERPRINT (SHA-256 of the certificate)
  FARMHAND_PVE_NODES    comma-separated nodes to place VMs on (default: every online node)
  FARMHAND_PVE_WRITES   at most this many write calls in flight at the API (default 4)
  --templates FILE      JSON: image folder name -> template VMID or template name (or FARMHAND_PVE_TEMPLATES);
                        an image without an entry uses the template named after its folder
  farmhand pve-emulator prints these settings for an emulated cluster, to try it without one.
`;
