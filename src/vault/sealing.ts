/**
 * AES-256-GCM sealing of provider keys through Web Crypto (Bun and Deno alike).
 *
 * The associated data binds each ciphertext to its row id and key version, so
 * a ciphertext copied into another row, or relabelled with another version,
 * fails authentication instead of decrypting to the wrong key.
 */

export interface Sealed {
  keyVersion: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

export class DecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function associatedData(context: string, keyVersion: number): Uint8Array<ArrayBuffer> {
  return encoder.encode(`keyward:v${keyVersion}:${context}`);
}

export class Sealer {
  private constructor(
    private readonly key: CryptoKey,
    readonly keyVersion: number,
  ) {}

  /** `masterKey` must be exactly 32 bytes. */
  static async create(masterKey: Uint8Array, keyVersion: number): Promise<Sealer> {
    if (masterKey.byteLength !== 32) throw new Error("Cannot use master key: it must be 32 bytes");
    const key = await crypto.subtle.importKey("raw", new Uint8Array(masterKey), "AES-GCM", false, ["encrypt", "decrypt"]);
    return new Sealer(key, keyVersion);
  }

  async seal(plaintext: string, context: string): Promise<Sealed> {
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const ciphertext = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: associatedData(context, this.keyVersion) },
      this.key,
      encoder.encode(plaintext),
    );
    return { keyVersion: this.keyVersion, nonce, ciphertext: new Uint8Array(ciphertext) };
  }

  async open(sealed: Sealed, context: string): Promise<string> {
    if (sealed.keyVersion !== this.keyVersion) {
      throw new DecryptError(`Cannot decrypt: sealed under master key version ${sealed.keyVersion}, current is ${this.keyVersion}`);
    }
    try {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: new Uint8Array(sealed.nonce),
          additionalData: associatedData(context, sealed.keyVersion),
        },
        this.key,
        new Uint8Array(sealed.ciphertext),
      );
      return decoder.decode(plain);
    } catch {
      throw new DecryptError("Cannot decrypt: master key does not match or data was altered");
    }
  }
}
