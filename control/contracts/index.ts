export { contract, type AnyContract, type Contract, type HttpMethod, type Operation, type Operations, type RequestOf, type ResponseOf } from "./contract.ts";
export { endpoint, type AnyEndpoint, type Endpoint } from "./endpoint.ts";
export { role, roleSite, type AnyRole, type Contracts, type ImportsOf, type ProvidedOf, type ReservedName, type Role } from "./role.ts";
