// PaymentService: approves charges under a limit, declines the rest. Keeps nothing but a counter.

import { service, start } from "farmhand/service";
import { PaymentService } from "../roles.ts";

/** Charges of this many cents or more are declined (PAYMENT_LIMIT_CENTS overrides; default $100.00). */
const LIMIT = Number(process.env.PAYMENT_LIMIT_CENTS ?? 10_000);
const svc = service(PaymentService);
let next = 1;

svc.provide("api", {
  charge: ({ body }) => {
    const paymentId = `${svc.env.vm}-pay-${next++}`;
    if (body.amount >= LIMIT) {
      return { paymentId, approved: false, reason: `amount of ${body.amount} cents is not under the limit of ${LIMIT} cents` };
    }
    return { paymentId, approved: true };
  },
});

await start(svc);
