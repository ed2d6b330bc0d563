import { Buffer } from "node:buffer";
import type { BatchFileCheck, BatchFileSummary, BatchLineRefusal } from "../limits/batch-lines.ts";
import type { BatchPricing } from "../providers/endpoints.ts";
import type { Authenticated } from "./authenticate.ts";
import { batchCheck } from "./batch-create.ts";
import { decodedStream } from "./body-encoding.ts";
import { ProxyError } from "./errors.ts";
import { encodeClosing, encodePartHead, multipartBoundary, MultipartError, MultipartReader, type PartHead, type PartSink } from "./multipart-stream.ts";
import type { Prepared, ProxyRun } from "./run.ts";

/** Text fields (`purpose`, `expires_after[…]`) are a few bytes; more is not a form an SDK sends. */
const MAX_FIELD_BYTES = 4 * 1024;
const NEWLINE = 0x0a;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Names a provider might read as `file` or `purpose` though keyward would not. */
const fold = (name: string) => name.toLowerCase().replace(/[_-]/g, "");

/**
 * A key with limits uploading a file (`POST /v1/files`). The form is read as
 * it streams through and encoded again with keyward's own boundary, so the
 * provider reads the parts keyward read; the file's bytes go on as written.
 * Its lines are checked as a batch's requests, since only `purpose` says
 * whether it is a batch's input and it may come before or after the file:
 * lines are checked until one fails, and the verdict waits for the form's
 * end. A batch input that fails is refused (400, naming the line and field)
 * by cutting the body off before its closing boundary: the provider never
 * gets a whole form, so it stores nothing.
 */
export function prepareBatchInput(run: ProxyRun, request: Request, auth: Authenticated, pricing: BatchPricing, maxBytes: number): Prepared {
  const boundary = multipartBoundary(request.headers.get("content-type") ?? "");
  if (boundary === undefined) throw new ProxyError("invalid_request", "Cannot read request: this endpoint takes multipart/form-data");
  const { proxyKey, providerKey } = auth;
  const { check, priced } = batchCheck(run, auth, pricing);
  const ours = `keyward-${crypto.randomUUID().replaceAll("-", "")}`;
  const upload = new CheckedUpload(boundary, ours, check, run.deps.maxBodyBytes);
  const body = decodedStream(request, maxBytes).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => upload.write(chunk, controller),
      flush: (controller) => upload.close(controller),
    }),
  );
  // Written with the file's owner, from the provider's answer: the check is the file's only once the provider took it.
  run.recordCreated = (tx, fileId) => {
    const summary = upload.summary;
    if (!summary) return;
    const { url, model, lines, worstMicros } = summary;
    tx.batches.recordFile({
      providerKeyId: providerKey.row.id,
      fileId,
      proxyKeyId: proxyKey.id,
      url,
      model,
      lines,
      worstMicros: priced ? worstMicros : null,
      pricePercent: pricing.pricePercent,
      createdAt: run.deps.clock.now(),
    });
  };
  return { body, contentType: `multipart/form-data; boundary=${ours}`, injectUsage: false, refusal: () => upload.refusal };
}

/** The form as it passes: parts encoded again, the file's lines split and checked. */
class CheckedUpload implements PartSink {
  private readonly reader: MultipartReader;
  private output: TransformStreamDefaultController<Uint8Array> | undefined;
  private first = true;
  private part: PartHead | undefined;
  private field: Buffer[] = [];
  private fieldBytes = 0;
  private seenFile = false;
  private purpose: string | undefined;
  /** The current line's bytes so far; undefined once lines are no longer checked. */
  private line: Buffer[] | undefined = [];
  private lineBytes = 0;
  private lineNumber = 0;
  private failed: BatchLineRefusal | undefined;
  /** Why the upload was refused, once it was. */
  refusal: ProxyError | undefined;
  /** The checked batch input, once the whole form was read and it is one. */
  summary: BatchFileSummary | undefined;

  constructor(
    boundary: string,
    private readonly ours: string,
    private readonly check: BatchFileCheck,
    private readonly maxLineBytes: number,
  ) {
    this.reader = new MultipartReader(boundary, this);
  }

  write(chunk: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): void {
    this.output = controller;
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.fail(controller, formError(err));
      return;
    }
    // Known to be a batch's input and already failed: no need to send the rest.
    if (this.isBatch() && this.failed) this.fail(controller, lineError(this.failed));
  }

  close(controller: TransformStreamDefaultController<Uint8Array>): void {
    if (this.refusal) return;
    try {
      this.reader.finish();
    } catch (err) {
      this.fail(controller, formError(err));
      return;
    }
    if (this.isBatch()) {
      const result = this.failed ? { ok: false as const, refusal: this.failed } : this.check.finish();
      if (!result.ok) {
        this.fail(controller, lineError(result.refusal));
        return;
      }
      this.summary = result.summary;
    }
    controller.enqueue(encodeClosing(this.ours, this.first));
  }

  begin(head: PartHead): void {
    const isFile = head.filename !== undefined || head.name === "file";
    if (isFile && (head.name !== "file" || this.seenFile)) throw new MultipartError("a file upload carries one file part, named file");
    if (head.name !== "file" && fold(head.name) === "file") throw new MultipartError(`a field named ${head.name} could be read as file`);
    if (head.name !== "purpose" && fold(head.name) === "purpose") throw new MultipartError(`a field named ${head.name} could be read as purpose`);
    if (head.name === "purpose" && this.purpose !== undefined) throw new MultipartError("purpose appears twice");
    this.part = head;
    if (isFile) {
      this.seenFile = true;
      this.emit(encodePartHead(this.ours, head, this.first));
      this.first = false;
    }
  }

  data(bytes: Uint8Array): void {
    if (this.part?.name === "file") {
      this.emit(bytes);
      this.readLines(bytes);
      return;
    }
    this.fieldBytes += bytes.byteLength;
    if (this.fieldBytes > MAX_FIELD_BYTES) throw new MultipartError(`field ${this.part?.name ?? ""} exceeds ${MAX_FIELD_BYTES} bytes`);
    this.field.push(Buffer.from(bytes));
  }

  end(): void {
    const part = this.part as PartHead;
    this.part = undefined;
    if (part.name === "file") {
      // The last line needs no line break after it.
      if (this.line && this.lineBytes > 0) this.checkLine(Buffer.concat(this.line, this.lineBytes));
      this.line = undefined;
      return;
    }
    const value = Buffer.concat(this.field, this.fieldBytes);
    this.field = [];
    this.fieldBytes = 0;
    if (part.name === "purpose") {
      this.purpose = value.toString("utf8");
      // Not a batch's input: its lines need no reading.
      if (!this.isBatch()) this.line = undefined;
    }
    this.emit(encodePartHead(this.ours, part, this.first));
    this.emit(value);
    this.first = false;
  }

  /** Lenient on purpose: whatever a provider might take for `batch` is checked as one. */
  private isBatch(): boolean {
    return this.purpose !== undefined && this.purpose.trim().toLowerCase() === "batch";
  }

  private readLines(bytes: Uint8Array): void {
    let view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (this.line) {
      const at = view.indexOf(NEWLINE);
      const piece = at < 0 ? view : view.subarray(0, at);
      this.lineBytes += piece.byteLength;
      if (this.lineBytes > this.maxLineBytes) {
        this.stop({ line: this.lineNumber + 1, message: `a line exceeds ${this.maxLineBytes} bytes, the size of one request` });
        return;
      }
      this.line.push(piece);
      if (at < 0) return;
      this.checkLine(Buffer.concat(this.line, this.lineBytes));
      view = view.subarray(at + 1);
    }
  }

  private checkLine(bytes: Buffer): void {
    const number = ++this.lineNumber;
    this.line = [];
    this.lineBytes = 0;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.stop({ line: number, message: "it is not valid UTF-8" });
      return;
    }
    const refusal = this.check.add(number, text.endsWith("\r") ? text.slice(0, -1) : text, bytes.byteLength);
    if (refusal) this.stop(refusal);
  }

  /** The first refusal ends the check: later lines are passed on unread. */
  private stop(refusal: BatchLineRefusal): void {
    this.failed = refusal;
    this.line = undefined;
  }

  private emit(bytes: Uint8Array): void {
    if (bytes.byteLength > 0) this.output?.enqueue(bytes);
  }

  private fail(controller: TransformStreamDefaultController<Uint8Array>, error: ProxyError): void {
    if (this.refusal) return;
    this.refusal = error;
    controller.error(error);
  }
}

function formError(err: unknown): ProxyError {
  if (err instanceof MultipartError) return new ProxyError("invalid_request", `Cannot read request: the multipart form cannot be passed on: ${err.message}`);
  return new ProxyError("internal_error", "Cannot forward request: the upload could not be read");
}

function lineError(refusal: BatchLineRefusal): ProxyError {
  const where = refusal.field === undefined ? `line ${refusal.line}` : `line ${refusal.line}, ${refusal.field}`;
  return new ProxyError("invalid_request", `Cannot accept batch input file: ${where}: ${refusal.message}`, {
    param: refusal.field === undefined ? `line ${refusal.line}` : `line ${refusal.line}: ${refusal.field}`,
  });
}
