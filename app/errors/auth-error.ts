export type AuthErrorCode = "MISSING_API_KEY" | "INVALID_API_KEY" | "REVOKED_API_KEY";

/** No usable API key came with the request; the three causes are told apart in the audit trail only. */
export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(readonly code: AuthErrorCode) {
    super(code === "MISSING_API_KEY" ? "an API key is required: Authorization: Bearer <key>" : "the API key is not valid");
  }
}
