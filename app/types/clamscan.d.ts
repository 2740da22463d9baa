declare module "clamscan/lib/NodeClamTransform.js" {
  import { Transform, type TransformOptions } from "node:stream";
  /** Frames a byte stream as clamd INSTREAM chunks: "zINSTREAM\0", then length-prefixed chunks, then a zero length. */
  export default class NodeClamTransform extends Transform {
    constructor(options?: TransformOptions, debugMode?: boolean);
  }
}
