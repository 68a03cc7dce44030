/**
 * Element types by their ONNX Runtime names, each with the typed array that holds it in host memory.
 * The one map behind the runtime's HostTensor (src/runtime/session.ts) and the .npy reader (src/data/npy.ts),
 * so the two cannot disagree on how, say, int64 or bool is held.
 */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  /** IEEE half floats as raw bits, as ORT exchanges them. */
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
}

export type ElementType = keyof TypedArrayOf;

const CONSTRUCTORS: { [K in ElementType]: (length: number) => TypedArrayOf[K] } = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  float16: (n) => new Uint16Array(n),
  int8: (n) => new Int8Array(n),
  uint8: (n) => new Uint8Array(n),
  int16: (n) => new Int16Array(n),
  uint16: (n) => new Uint16Array(n),
  int32: (n) => new Int32Array(n),
  uint32: (n) => new Uint32Array(n),
  int64: (n) => new BigInt64Array(n),
  uint64: (n) => new BigUint64Array(n),
  bool: (n) => new Uint8Array(n),
};

export const ELEMENT_TYPES: ReadonlySet<string> = new Set(Object.keys(CONSTRUCTORS));

export function isElementType(name: string): name is ElementType {
  return ELEMENT_TYPES.has(name);
}

/** A zero-filled typed array of `length` elements of type `type`. */
export function typedArray<K extends ElementType>(type: K, length: number): TypedArrayOf[K] {
  return CONSTRUCTORS[type](length);
}
