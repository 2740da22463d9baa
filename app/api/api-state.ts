import type { Principal } from "../auth/api-keys.ts";

/** What the middleware stack leaves on ctx.state. */
export interface ApiState {
  requestId: string;
  /** Set by `authenticate` on every route that needs a key. */
  principal: Principal;
}
