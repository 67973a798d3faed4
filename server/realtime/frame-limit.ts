/**
 * Events over the frame limit (docs/protocol.md v1.1 "Limits": 64 KB) are refused before they are
 * parsed: one whose header carries an ack id is answered TOO_LARGE through that ack, any other
 * closes the socket, with a logged reason either way. A CONNECT packet (the handshake with the
 * token) is exempt, so a token over its own limit is refused with the reason. Engine.io lets frames up to its own, larger
 * cap (TRANSPORT_MAX_BYTES) through to here; frames past that are cut by the transport.
 *
 * Done in socket.io's parser (its `parser` option): the decoder is the first to see a frame as
 * socket.io text, and reading the header `2[<attachments>-][/<nsp>,][<ack id>]` costs nothing,
 * whereas JSON.parse of the body is what an oversized frame must not cost.
 */
import { Decoder, Encoder, PacketType } from "socket.io-parser";

/** Frames this large reach the check below; larger ones are closed by engine.io itself. */
export const TRANSPORT_MAX_BYTES = 1024 * 1024;

/** The event name an oversized event with an ack id is handed to the socket's listeners under, with (bytes, maxBytes, ack). */
export const OVERSIZED_EVENT: unique symbol = Symbol("oversized event");

/** `2`, attachments `<n>-`, namespace `/<nsp>,`, ack id: the header of an event frame. */
const EVENT_HEADER = /^([0-6])(?:\d+-)?(\/[^,]*,)?(\d{1,15})?/;

export interface OversizeReport {
  bytes: number;
  /** "answered": a TOO_LARGE ack goes back; "closed": no ack id to answer, the socket is closed. */
  outcome: "answered" | "closed";
}

/** socket.io's default parser with the size check in front of its decoder. */
export function sizeLimitedParser(
  maxBytes: number,
  report: (oversize: OversizeReport) => void,
): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  class SizeLimitedDecoder extends Decoder {
    override add(frame: unknown): void {
      const bytes = frameBytes(frame, maxBytes);
      // A CONNECT carries the token: parsed whatever its size (up to the transport's cap), so
      // an oversized token gets AUTH_INVALID with its reason instead of a dropped connection.
      if (bytes <= maxBytes || (typeof frame === "string" && frame.startsWith(String(PacketType.CONNECT)))) return super.add(frame);
      const header = typeof frame === "string" ? EVENT_HEADER.exec(frame) : null;
      const ackId = header && Number(header[1]) === PacketType.EVENT ? header[3] : undefined;
      if (ackId === undefined) {
        report({ bytes, outcome: "closed" });
        // socket.io closes the connection on a decoder error (client.js ondata).
        throw new Error(`a frame of ${bytes} bytes is over the ${maxBytes}-byte limit and has no ack id to answer`);
      }
      report({ bytes, outcome: "answered" });
      const nsp = header?.[2] ? header[2].slice(0, -1) : "/";
      this.emitReserved("decoded", { type: PacketType.EVENT, nsp, id: Number(ackId), data: [OVERSIZED_EVENT, bytes, maxBytes] });
    }
  }
  return { Encoder, Decoder: SizeLimitedDecoder };
}

/**
 * Bytes of a frame, or a lower bound past `maxBytes` when it is surely larger (a string of
 * more UTF-16 units than `maxBytes` has at least that many bytes): no full scan of a huge frame.
 */
function frameBytes(frame: unknown, maxBytes: number): number {
  if (typeof frame === "string") return frame.length > maxBytes ? frame.length : Buffer.byteLength(frame);
  if (frame instanceof ArrayBuffer || ArrayBuffer.isView(frame)) return frame.byteLength;
  return 0;
}
