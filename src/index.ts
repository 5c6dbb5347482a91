// farmhand's public entry point for code: the combinators and their drivers, the contracts and roles
// scripts are typed against, and the balancer for those who embed it directly.

export { contract, endpoint, role } from "../control/contracts/index.ts";
export type { AnyContract, AnyEndpoint, AnyRole, Contract, Endpoint, ImportsOf, Operation, ProvidedOf, RequestOf, ResponseOf, Role } from "../control/contracts/index.ts";
export { openFarm, farmOnPorts, type FarmHandle, type FarmOptions } from "../control/farm/open-farm.ts";
export type { FarmStatus } from "../control/reconcile/observe.ts";
export type { FarmPorts } from "../control/reconcile/ports.ts";
export type { BalanceOptions, BalancePolicy, Farm, FarmEvent, Vm } from "../control/farm/farm.ts";
export type { FarmScript } from "../control/farm/script.ts";
export { systemClock, type Clock, type Driver, type DriverEvent, type VmRecord, type VmSpec } from "../control/drivers/driver.ts";
export { localDriver, type LocalDriverOptions } from "../control/drivers/local/index.ts";
export { proxmoxDriver, type ProxmoxDriverOptions } from "../control/drivers/proxmox/index.ts";
export { planFarm } from "../control/model/recorder.ts";
export { graphOf } from "../control/graph/from-model.ts";
export * from "../control/errors.ts";
export { startBalancer, Balancer, loadConfigFile } from "../native-free-core/index.ts";
