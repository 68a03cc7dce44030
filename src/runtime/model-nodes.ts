// Reads just the node list (name, op type, inputs, outputs) of an ONNX model straight from its protobuf
// wire format. The runtime layer needs this to map ORT's per-kernel profile back to the model's nodes,
// and it must not depend on the graph IR; decoding only these fields also skips initializer payloads,
// which are most of a model's bytes.
import { RebirthError } from '../errors.js';

/** One node of the model's main graph, in file (= topological) order. */
export interface ModelNode {
  /**
   * The node's name; for a node whose name is empty, `<OpType>_<index>` — the name ORT's profiler gives it
   * (sequential executor: `node.Name().empty() ? OpType + "_" + node_index`, observed in 1.30 traces).
   */
  id: string;
  /** The name exactly as stored in the model ('' when absent). */
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

// Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1;
// NodeProto.input = 1, output = 2, name = 3, op_type = 4, domain = 7.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_DOMAIN = 7;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: false });

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    // Lengths and tags fit in 53 bits; multiply instead of shifting so values above 2^31 stay exact.
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++] ?? 0;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** Returns [start, end) of a length-delimited payload and moves past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw new Error('length-delimited field runs past its parent');
    this.pos = end;
    return [start, end];
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.pos += 8;
    else if (wire === WIRE_LEN) this.span();
    else if (wire === WIRE_FIXED32) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('field runs past its parent');
  }

  /** Iterates fields: calls `onLen` for length-delimited fields, skips the rest. */
  fields(onLen: (field: number, start: number, end: number) => void): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === WIRE_LEN) {
        const [s, e] = this.span();
        onLen(field, s, e);
      } else {
        this.skip(wire);
      }
    }
  }
}

function readNode(buf: Uint8Array, start: number, end: number, index: number): ModelNode {
  const n: ModelNode = { id: '', name: '', opType: '', domain: '', inputs: [], outputs: [] };
  new Reader(buf, start, end).fields((field, s, e) => {
    const text = (): string => utf8.decode(buf.subarray(s, e));
    if (field === NODE_INPUT) n.inputs.push(text());
    else if (field === NODE_OUTPUT) n.outputs.push(text());
    else if (field === NODE_NAME) n.name = text();
    else if (field === NODE_OP_TYPE) n.opType = text();
    else if (field === NODE_DOMAIN) n.domain = text();
  });
  n.id = n.name !== '' ? n.name : `${n.opType}_${index}`;
  return n;
}

/** The main graph's nodes in file order. Throws RebirthError if the bytes are not a ModelProto. */
export function readModelNodes(model: Uint8Array): ModelNode[] {
  const nodes: ModelNode[] = [];
  try {
    new Reader(model, 0, model.length).fields((field, s, e) => {
      if (field !== MODEL_GRAPH) return;
      new Reader(model, s, e).fields((gField, ns, ne) => {
        if (gField === GRAPH_NODE) nodes.push(readNode(model, ns, ne, nodes.length));
      });
    });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new RebirthError(`model bytes are not a valid ONNX ModelProto (${why}): pass the bytes of a .onnx file`, {
      cause: e,
    });
  }
  return nodes;
}
