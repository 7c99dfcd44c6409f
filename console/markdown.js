// Replies rendered as a small, safe subset of Markdown: paragraphs, headings, lists,
// quotes, fenced code blocks, `code`, **bold**, *emphasis* and http(s) links. The
// parser gives a plain tree and the renderer builds it with createElement and text
// nodes only: raw HTML in a reply is shown as the text it is, never parsed. Streaming
// text renders too (an unclosed fence is a code block up to the end).

const FENCE = /^\s{0,3}(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const SAFE_URL = /^(https?:\/\/|mailto:)/i;

/** Markdown text -> [{type: "paragraph"|"heading"|"list"|"quote"|"code", …}]. */
export function parseMarkdown(text) {
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence (or past the end)
      blocks.push({ type: "code", lang: fence[2] || "", text: body.join("\n") });
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ type: "heading", level: heading[1].length, children: parseInline(heading[2]) });
      i += 1;
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? NUMBERED : BULLET;
      const items = [];
      while (i < lines.length && pattern.test(lines[i])) {
        const match = pattern.exec(lines[i]);
        items.push(parseInline(ordered ? match[2] : match[1]));
        i += 1;
      }
      const start = ordered ? Number(NUMBERED.exec(line)[1]) : 1;
      blocks.push({ type: "list", ordered, start, items });
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      blocks.push({ type: "quote", children: parseMarkdown(quoted.join("\n")) });
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) paragraph.push(lines[i++]);
    blocks.push({ type: "paragraph", children: parseInline(paragraph.join("\n")) });
  }
  return blocks;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line) || QUOTE.test(line);
}

/** Inline text -> [{type: "text"|"code"|"strong"|"em"|"link", …}]. */
export function parseInline(text) {
  const nodes = [];
  let plain = "";
  let i = 0;
  const flush = () => {
    if (plain) nodes.push({ type: "text", text: plain });
    plain = "";
  };
  while (i < text.length) {
    const rest = text.slice(i);
    const code = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest);
    if (code) {
      flush();
      nodes.push({ type: "code", text: code[2] });
      i += code[0].length;
      continue;
    }
    const strong = /^(\*\*|__)(?=\S)([\s\S]*?\S)\1/.exec(rest);
    if (strong) {
      flush();
      nodes.push({ type: "strong", children: parseInline(strong[2]) });
      i += strong[0].length;
      continue;
    }
    const em = /^([*_])(?=\S)([\s\S]*?\S)\1(?![*_])/.exec(rest);
    if (em && !(em[1] === "_" && /\w/.test(text[i - 1] || ""))) {
      flush();
      nodes.push({ type: "em", children: parseInline(em[2]) });
      i += em[0].length;
      continue;
    }
    const link = /^\[([^\]\n]+)\]\(([^)\s]+)\)/.exec(rest);
    if (link && SAFE_URL.test(link[2])) {
      flush();
      nodes.push({ type: "link", href: link[2], children: parseInline(link[1]) });
      i += link[0].length;
      continue;
    }
    plain += text[i];
    i += 1;
  }
  flush();
  return nodes;
}

/** Builds the blocks of `text` as DOM nodes of `doc` (text nodes only for content). */
export function renderMarkdown(text, doc = document) {
  const fragment = doc.createDocumentFragment();
  for (const block of parseMarkdown(text)) fragment.append(renderBlock(block, doc));
  return fragment;
}

function renderBlock(block, doc) {
  const el = (tag, children = []) => {
    const node = doc.createElement(tag);
    node.append(...children);
    return node;
  };
  switch (block.type) {
    case "code": {
      const code = el("code", [doc.createTextNode(block.text)]);
      if (block.lang) code.dataset.lang = block.lang;
      return el("pre", [code]);
    }
    case "heading":
      return el(`h${Math.min(6, block.level + 2)}`, renderInline(block.children, doc));
    case "list": {
      const list = el(block.ordered ? "ol" : "ul", block.items.map((item) => el("li", renderInline(item, doc))));
      if (block.ordered && block.start !== 1) list.start = block.start;
      return list;
    }
    case "quote":
      return el("blockquote", block.children.map((b) => renderBlock(b, doc)));
    default:
      return el("p", renderInline(block.children, doc));
  }
}

function renderInline(nodes, doc) {
  return nodes.map((node) => {
    if (node.type === "text") return doc.createTextNode(node.text);
    if (node.type === "code") {
      const code = doc.createElement("code");
      code.textContent = node.text;
      return code;
    }
    const tag = { strong: "strong", em: "em", link: "a" }[node.type];
    const element = doc.createElement(tag);
    if (node.type === "link") {
      element.href = node.href;
      element.rel = "noopener noreferrer nofollow";
      element.target = "_blank";
    }
    element.append(...renderInline(node.children, doc));
    return element;
  });
}
