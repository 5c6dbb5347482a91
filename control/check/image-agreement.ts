// Types only: whether the role an image's code serves (the one its entry gives `service(...)`) says
// what the image's farmhand.json says: its name, the contracts it provides and requires, and each
// provided contract's operations with their method and path. `farmhand check` writes one
// `const agrees: ImageAgrees<typeof Role, {...metadata...}> = true` per image for the compiler; a
// disagreement is a sentence the compiler prints ("operation cancel of orders@1 is in farmhand.json
// but not in the code's contract, so no handler serves it").

import type { AnyContract, AnyRole } from "../contracts/index.ts";

/** An image's farmhand.json as a type: what is provided (with the operations) and required. */
export interface ImageMetadataType {
  readonly name: string;
  readonly provides: { readonly [endpoint: string]: readonly [id: string, operations: { readonly [op: string]: readonly [method: string, path: string] }] };
  readonly requires: { readonly [name: string]: string };
}

type OperationProblems<Image extends string, C extends AnyContract, Ops> = {
  [Op in (keyof Ops | keyof C["operations"]) & string]-?: Op extends keyof C["operations"]
    ? Op extends keyof Ops
      ? Ops[Op] extends readonly [infer Method extends string, infer Path extends string]
        ? [C["operations"][Op]["method"], C["operations"][Op]["path"]] extends [Method, Path] ? never
          : `farmhand: image ${Image}: operation ${Op} of ${C["id"]} is ${Method} ${Path} in farmhand.json, ${C["operations"][Op]["method"]} ${C["operations"][Op]["path"]} in the code`
        : never
      : `farmhand: image ${Image}: operation ${Op} of ${C["id"]} is in the code but not in farmhand.json`
    : `farmhand: image ${Image}: operation ${Op} of ${C["id"]} is in farmhand.json but not in the code's contract, so no handler serves it`;
}[(keyof Ops | keyof C["operations"]) & string];

type ProvidedProblems<Image extends string, P extends AnyRole["provides"], M extends ImageMetadataType["provides"]> = {
  [K in (keyof P | keyof M) & string]-?: K extends keyof P
    ? K extends keyof M
      ? P[K]["id"] extends M[K][0] ? OperationProblems<Image, P[K], M[K][1]> : `farmhand: image ${Image}: provides ${K}: ${M[K][0]} in farmhand.json, ${P[K]["id"]} in the code`
      : `farmhand: image ${Image}: provides ${K} in the code, not in farmhand.json`
    : `farmhand: image ${Image}: farmhand.json provides ${K}, the code does not`;
}[(keyof P | keyof M) & string];

type RequiredProblems<Image extends string, Q extends AnyRole["requires"], M extends ImageMetadataType["requires"]> = {
  [K in (keyof Q | keyof M) & string]-?: K extends keyof Q
    ? K extends keyof M
      ? Q[K]["id"] extends M[K] ? never : `farmhand: image ${Image}: requires ${K}: ${M[K]} in farmhand.json, ${Q[K]["id"]} in the code`
      : `farmhand: image ${Image}: requires ${K} in the code, not in farmhand.json`
    : `farmhand: image ${Image}: farmhand.json requires ${K}, the code does not`;
}[(keyof Q | keyof M) & string];

/** `true` when they agree, otherwise each disagreement as a sentence. */
export type ImageAgrees<R extends AnyRole, M extends ImageMetadataType> =
  | (R["name"] extends M["name"] ? never : `farmhand: image ${M["name"]}: farmhand.json names role ${M["name"]}, the code serves role ${R["name"]}`)
  | ProvidedProblems<M["name"], R["provides"], M["provides"]>
  | RequiredProblems<M["name"], R["requires"], M["requires"]> extends infer Problems
  ? [Problems] extends [never] ? true : Problems
  : never;
