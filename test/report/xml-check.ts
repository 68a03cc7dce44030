/**
 * A crude well-formedness check for generated SVG/HTML: tags balance and nest, attribute values are
 * quoted, and text has no raw '<' or stray '&'. Not a full parser; enough to catch escaping bugs.
 */
const HTML_VOID = new Set(['meta', 'link', 'br', 'hr', 'img', 'input']);
const ENTITY = /^&(amp|lt|gt|quot|#39|#\d+|#x[0-9a-fA-F]+);/;

export interface XmlCheck {
  /** Element names in document order. */
  elements: string[];
  /** Concatenated text content (entities left as written). */
  text: string;
}

export function checkMarkup(doc: string, { html = false } = {}): XmlCheck {
  const stack: string[] = [];
  const elements: string[] = [];
  let text = '';
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at offset ${i}: ${JSON.stringify(doc.slice(Math.max(0, i - 40), i + 40))}`);
  };
  const checkText = (t: string): void => {
    for (let k = t.indexOf('&'); k >= 0; k = t.indexOf('&', k + 1)) {
      if (!ENTITY.test(t.slice(k))) fail('unescaped &');
    }
    if (t.includes('>') && !html) fail("raw '>' in text");
    text += t;
  };
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    if (lt < 0) {
      checkText(doc.slice(i));
      break;
    }
    checkText(doc.slice(i, lt));
    i = lt;
    if (doc.startsWith('<!DOCTYPE', i)) {
      i = doc.indexOf('>', i) + 1;
      continue;
    }
    const m = /^<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/.exec(doc.slice(i));
    if (!m) return fail('malformed tag');
    const [whole, closing, name = '', , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) fail(`</${name}> closes <${open ?? '(nothing)'}>`);
    } else {
      elements.push(name);
      if (!selfClosing && !(html && HTML_VOID.has(name))) stack.push(name);
      // <style> content is CSS: skip to its end tag rather than treating braces as text.
      if (name === 'style') {
        const end = doc.indexOf('</style>', i);
        if (end < 0) fail('unclosed <style>');
        i = end;
        continue;
      }
    }
    i += whole.length;
  }
  if (stack.length > 0) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  return { elements, text };
}

/** Every "http(s)://" in the document other than the SVG namespace. */
export function externalUrls(doc: string): string[] {
  return (doc.match(/https?:\/\/[^\s"'<>)]*/g) ?? []).filter((u) => u !== 'http://www.w3.org/2000/svg');
}
