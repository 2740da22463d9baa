export const TS_IMPLICIT_LE = "1.2.840.10008.1.2";
export const TS_EXPLICIT_LE = "1.2.840.10008.1.2.1";
export const TS_DEFLATED_LE = "1.2.840.10008.1.2.1.99";
export const TS_EXPLICIT_BE = "1.2.840.10008.1.2.2";

const ENCAPSULATED = new Set([
  "1.2.840.10008.1.2.1.98",
  "1.2.840.10008.1.2.5",
  ...["50", "51", "57", "70", "80", "81", "90", "91", "92", "93", "94", "95", "201", "202", "203"].map(
    (n) => `1.2.840.10008.1.2.4.${n}`,
  ),
  ...Array.from({ length: 9 }, (_, i) => `1.2.840.10008.1.2.4.${100 + i}`),
]);

export interface Syntax {
  readonly explicitVr: boolean;
  readonly littleEndian: boolean;
  readonly deflated: boolean;
}

/** Encoding of the dataset for a transfer syntax UID, or null for a syntax we do not know. */
export function syntaxOf(uid: string): Syntax | null {
  switch (uid) {
    case TS_IMPLICIT_LE:
      return { explicitVr: false, littleEndian: true, deflated: false };
    case TS_EXPLICIT_BE:
      return { explicitVr: true, littleEndian: false, deflated: false };
    case TS_DEFLATED_LE:
      return { explicitVr: true, littleEndian: true, deflated: true };
    case TS_EXPLICIT_LE:
      return { explicitVr: true, littleEndian: true, deflated: false };
    default:
      return ENCAPSULATED.has(uid) ? { explicitVr: true, littleEndian: true, deflated: false } : null;
  }
}

/** Explicit VRs whose length field is 4 bytes after 2 reserved ones (PS3.5 7.1.2). */
export const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
export const UNDEFINED_LENGTH = 0xffffffff;
