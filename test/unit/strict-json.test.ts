/**
 * Strict body parsing (src/limits/strict-json.ts): what JSON.parse accepts is
 * accepted with the same value, except objects whose keys repeat (compared
 * after unescaping, at any depth) and nesting past MAX_JSON_DEPTH; nothing
 * throws.
 */
import { describe, expect, test } from "bun:test";
import { joinPath, MAX_JSON_DEPTH, parseStrictJson } from "../../src/limits/strict-json.ts";

const NOT_JSON = "Cannot read request: body is not valid JSON";
const TOO_DEEP = `Cannot read request: body is nested more than ${MAX_JSON_DEPTH} levels deep`;

function refused(text: string): { message: string; field?: string } {
  const result = parseStrictJson(text);
  if (result.ok) throw new Error(`Expected a refusal of ${text.slice(0, 80)}`);
  return { message: result.message, field: result.field };
}

describe("parseStrictJson: repeated keys", () => {
  test("a plain repeat at the top level names the key", () => {
    expect(refused('{"a":1,"a":2}')).toEqual({ message: 'Cannot read request: key "a" appears twice', field: "a" });
    expect(refused('{"max_tokens":1,"model":"m","max_tokens":9}')).toEqual({
      message: 'Cannot read request: key "max_tokens" appears twice',
      field: "max_tokens",
    });
  });

  test("keys are compared after unescaping", () => {
    expect(refused('{"a":1,"\\u0061":2}').field).toBe("a");
    expect(refused('{"max_tokens":1,"max_tok\\u0065ns":9}')).toEqual({
      message: 'Cannot read request: key "max_tokens" appears twice',
      field: "max_tokens",
    });
    expect(refused('{"\\u006dax_tokens":1,"max_tokens":9}').field).toBe("max_tokens");
    expect(refused('{"\\u0061":1,"\\u0061":2}').field).toBe("a");
    expect(refused('{"/":1,"\\/":2}').field).toBe('["/"]');
    expect(refused('{"é":1,"\\u00e9":2}').field).toBe('["é"]');
    expect(refused('{"\\u00E9":1,"\\u00e9":2}').field).toBe('["é"]');
    expect(refused('{"\\"":1,"\\u0022":2}').field).toBe('["\\""]');
  });

  test("keys that look alike but differ after unescaping are distinct", () => {
    for (const text of ['{"ab":1,"a\\u0062c":2}', '{"a\\\\":1,"a\\\\\\\\":2}', '{"a\\n":1,"a\\\\n":2}', '{"\\u0061b":1,"ab ":2}', '{"é":1,"e\\u0301":2}']) {
      expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });

  test("a repeat inside nested objects and arrays of objects gives the path to the key", () => {
    const body =
      '{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":"x"},{"role":"user","content":[{"type":"text","text":"a","type":"image_url"}]}]}';
    expect(refused(body)).toEqual({ message: 'Cannot read request: key "type" appears twice in messages[2].content[0]', field: "messages[2].content[0].type" });
    expect(refused('[{"a":1},{"a":1,"b":2,"a":3}]')).toEqual({ message: 'Cannot read request: key "a" appears twice in [1]', field: "[1].a" });
    expect(refused('{"x":{"y":[[0,{"z":1,"z":1}]]}}').field).toBe("x.y[0][1].z");
    expect(refused('{"stream_options":{"include_usage":false,"include_usage":true}}').field).toBe("stream_options.include_usage");
  });

  test("escaped keys on the path are shown unescaped", () => {
    expect(refused('{"mess\\u0061ges":[{"a":1,"a":2}]}').field).toBe("messages[0].a");
  });

  test("the same key in sibling, parent and child objects is fine", () => {
    for (const text of [
      '[{"a":1},{"a":2}]',
      '{"x":{"a":1},"y":{"a":1}}',
      '{"a":{"a":{"a":1}}}',
      '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}',
      '{"a":[{"a":1,"b":2},{"b":3,"a":4}],"b":{"a":1}}',
    ]) {
      expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });

  test("objects with many keys: repeats found across the small-object and large-object paths", () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const object = (names: string[]) => `{${names.map((k, i) => `${JSON.stringify(k)}:${i}`).join(",")}}`;
    expect(parseStrictJson(object(keys)).ok).toBe(true);
    for (const [first, second] of [
      [0, 1],
      [0, 7],
      [3, 8],
      [0, 8],
      [7, 8],
      [2, 20],
      [15, 39],
    ] as const) {
      const names = [...keys];
      names[second] = names[first] ?? "";
      expect(refused(object(names)).field).toBe(`k${first}`);
    }
    // An escaped spelling of an early key, first seen past the switch to a Set.
    expect(refused(`{${keys.map((k, i) => `"${k}":${i}`).join(",")},"k\\u0031":0}`).field).toBe("k1");
  });

  test("keys of equal length and equal first and last characters are still told apart", () => {
    expect(parseStrictJson('{"abc":1,"aXc":2,"a\\u0059c":3}').ok).toBe(true);
    expect(refused('{"abc":1,"aXc":2,"abc":3}').field).toBe("abc");
    expect(refused('{"aXc":1,"abc":2,"a\\u0058c":3}').field).toBe("aXc");
  });

  test("empty keys repeat like any other", () => {
    expect(refused('{"":1,"":2}')).toEqual({ message: 'Cannot read request: key "" appears twice', field: '[""]' });
    expect(parseStrictJson('{"":1,"a":2}').ok).toBe(true);
  });

  test("unicode keys", () => {
    expect(refused('{"日本":1,"日本":2}')).toEqual({ message: 'Cannot read request: key "日本" appears twice', field: '["日本"]' });
    expect(refused('{"😀":1,"\\ud83d\\ude00":2}').field).toBe('["😀"]');
    expect(refused('{"\\uD83D\\uDE00":1,"\\ud83d\\ude00":2}').field).toBe('["😀"]');
    expect(parseStrictJson('{"日本":1,"日本語":2,"😀":3,"😁":4}').ok).toBe(true);
  });

  test("string values with backslash runs before quotes do not hide or invent keys", () => {
    // Value x\ (escaped backslash), then a real repeat of "a".
    expect(refused('{"a":"x\\\\","a":1}').field).toBe("a");
    // Value x\\ (two escaped backslashes), then a repeat.
    expect(refused('{"a":"x\\\\\\\\","a":1}').field).toBe("a");
    // Value x\" with an escaped quote: the text "a" inside it is not a key.
    expect(parseStrictJson('{"a":"x\\",\\"a\\":1","b":1}').ok).toBe(true);
    // Value \\\" : an escaped backslash then an escaped quote.
    expect(parseStrictJson('{"a":"\\\\\\",\\"a\\":","b":"\\\\"}').ok).toBe(true);
    // Structure characters inside strings are text.
    expect(parseStrictJson('{"a":"},{\\"a\\":1","b":"[{,]}","c":["{\\"a\\":1,\\"a\\":2}"]}').ok).toBe(true);
  });

  test("a key repeated inside a string value is not a repeat", () => {
    const text = JSON.stringify({ content: '{"max_tokens":1,"max_tokens":9}', max_tokens: 5 });
    expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
  });

  test("long and odd keys are readable in paths", () => {
    expect(refused('{"a b":{"c":1,"c":2}}').field).toBe('["a b"].c');
    expect(refused('{"x":{"a.b":1,"a.b":2}}').field).toBe('x["a.b"]');
    const long = "k".repeat(200);
    const { message, field } = refused(`{"${long}":1,"${long}":2}`);
    expect(field).toBe(`["${"k".repeat(64)}…"]`);
    expect(message.length).toBeLessThan(120);
    expect(joinPath("", 0)).toBe("[0]");
    expect(joinPath("a", "$b_1")).toBe("a.$b_1");
    expect(joinPath("a", "1b")).toBe('a["1b"]');
  });

  test("scan state left by one body does not leak into the next", () => {
    expect(parseStrictJson('{"\\u0061":{"\\u0062":1,"c":2},"d":[{"\\u0065":1}]}').ok).toBe(true);
    expect(parseStrictJson('{"a":{"b":1,"c":2},"d":[{"e":1}]}').ok).toBe(true);
    expect(refused('{"a":{"b":1,"\\u0062":2}}').field).toBe("a.b");
    expect(parseStrictJson('{"a":{"b":1}}').ok).toBe(true);
  });
});

describe("parseStrictJson: same acceptance and value as JSON.parse", () => {
  const valid = [
    "{}",
    "[]",
    "0",
    "-0",
    "1e400",
    "-1.5e-7",
    '"text"',
    '""',
    "null",
    "true",
    "false",
    ' \t\r\n{ "a" : [ 1 , 2 ] , "b" : { } } \n',
    '{"a":"\\"","b":"\\\\","c":"\\/","d":"\\b\\f\\n\\r\\t","e":"\\u0000\\u001f\\uFFFF"}',
    '{"a":"\\\\\\"","b":1}',
    '{"lone":"\\ud800","pair":"\\ud83d\\ude00"}',
    '{"__proto__":{"x":1},"constructor":1,"toString":2}',
    '[{},[],{"":0},[[[]]],[{"a":[{"a":[]}]}]]',
    '{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"max_tokens":100,"stream":true}',
    '{"unicode":"héllo 👋 — 日本語","日本":"語"}',
    '{"n":12345678901234567890,"f":0.1,"big":1E+2,"small":1e-2}',
    `{"deep":${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`,
  ];
  for (const text of valid) {
    test(`accepts ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`, () => {
      expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) as unknown });
    });
  }

  const invalid = [
    "",
    " ",
    "{",
    "}",
    '{"a":1,}',
    "[1,]",
    "{'a':1}",
    '{"a":1}x',
    '{"a" 1}',
    "{a:1}",
    "NaN",
    "Infinity",
    "01",
    '{"a":01}',
    '"\\x"',
    '"\\u12"',
    '"a\nb"',
    '"unterminated',
    "\uFEFF{}",
    "[1 2]",
    '{"a":1 "b":2}',
    "tru",
    "undefined",
  ];
  for (const text of invalid) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      expect(() => JSON.parse(text)).toThrow();
      expect(parseStrictJson(text)).toEqual({ ok: false, message: NOT_JSON });
    });
  }
});

describe("parseStrictJson: nesting", () => {
  test("100,000 levels of arrays or objects are refused, not thrown", () => {
    const depth = 100_000;
    expect(parseStrictJson("[".repeat(depth) + "]".repeat(depth))).toEqual({ ok: false, message: TOO_DEEP });
    expect(parseStrictJson('{"a":'.repeat(depth) + "1" + "}".repeat(depth))).toEqual({ ok: false, message: TOO_DEEP });
    // Invalid and deep: reported as invalid, since JSON.parse decides first.
    expect(parseStrictJson("[".repeat(depth))).toEqual({ ok: false, message: NOT_JSON });
  });

  test("MAX_JSON_DEPTH levels pass and one more is refused", () => {
    const at = "[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH);
    expect(parseStrictJson(at).ok).toBe(true);
    const over = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
    expect(parseStrictJson(over)).toEqual({ ok: false, message: TOO_DEEP });
  });

  test("a repeat at depth is found with its full path", () => {
    const depth = 300;
    const text = '{"a":'.repeat(depth) + '{"k":1,"k":2}' + "}".repeat(depth);
    expect(refused(text).field).toBe(`${Array.from({ length: depth }, () => "a").join(".")}.k`);
  });
});

/**
 * Reference: a plain recursive-descent reader that collects every object's
 * keys with JSON.parse-decoded strings, for comparing on random bodies.
 */
function referenceRepeat(text: string): string | undefined {
  let i = 0;
  let found: string | undefined;
  const ws = () => {
    while (" \t\r\n".includes(text[i] ?? "x")) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        const key = str();
        if (seen.has(key) && found === undefined) found = key;
        seen.add(key);
        ws();
        i++; // colon
        value();
        ws();
        if (text[i++] === "}") return;
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i++] === "]") return;
      }
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !",]} \t\r\n".includes(text[i] ?? "")) i++;
    }
  };
  value();
  return found;
}

describe("parseStrictJson: random bodies against a reference reader", () => {
  test("2,000 bodies with colliding, escaped and quote-laden keys and values", () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    const keyPieces = ["a", "b", "\\u0061", "\\u0062", "ab", "a\\u0062", "\\\\", '\\"', "é", "\\u00e9", "type"];
    const valuePieces = ["x", '\\"', "\\\\", '\\\\\\"', ",", "{", "}", "[", "]", ":", '\\"a\\":1', "\\n", "日本"];
    const key = () => `"${Array.from({ length: 1 + random(2) }, () => keyPieces[random(keyPieces.length)]).join("")}"`;
    const gen = (depth: number): string => {
      const r = random(depth > 3 ? 3 : 6);
      if (r === 0) return `"${Array.from({ length: random(4) }, () => valuePieces[random(valuePieces.length)]).join("")}"`;
      if (r === 1) return String(random(100));
      if (r === 2) return ["true", "false", "null"][random(3)] ?? "null";
      if (r === 3) return `[${Array.from({ length: random(4) }, () => gen(depth + 1)).join(",")}]`;
      return `{${Array.from({ length: random(12) }, () => `${key()}:${gen(depth + 1)}`).join(",")}}`;
    };
    let repeats = 0;
    for (let n = 0; n < 2000; n++) {
      const text = gen(0);
      const expected = referenceRepeat(text);
      const result = parseStrictJson(text);
      if (expected === undefined) {
        expect(result).toEqual({ ok: true, value: JSON.parse(text) as unknown });
      } else {
        repeats++;
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.message).toContain(`key ${JSON.stringify(expected)} appears twice`);
      }
    }
    // The generator must exercise both outcomes.
    expect(repeats).toBeGreaterThan(200);
    expect(repeats).toBeLessThan(1800);
  });
});
