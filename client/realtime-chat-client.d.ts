// Types for realtime-chat-client.js: the browser and Node (>= 22) client of the
// realtime chat backend. The wire protocol is docs/protocol.md.

export type ConnectionState = "idle" | "connecting" | "open" | "closed";
export type ReplyStatus = "streaming" | "complete" | "stopped" | "error";

export interface Limits {
  /** Characters (code points) of one chat message: the server's MaxMessageChars. */
  maxMessageChars: number;
  /** UTF-8 bytes of one frame: over this API Gateway closes with 1009. */
  maxFrameBytes: number;
}
export const LIMITS: Readonly<Limits>;

export interface Backoff {
  baseMs: number;
  maxMs: number;
}
export const BACKOFF: Readonly<Backoff>;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface GetTokenOptions {
  /** true when the last token was refused or expired: return a new one, or throw. */
  fresh: boolean;
}

export interface ClientOptions {
  /** The stack's WebSocket URL, e.g. wss://abc.execute-api.us-east-1.amazonaws.com/prod */
  url: string;
  /**
   * A token for `?token=`, or null for an anonymous connection. Throw an error with
   * `retryable: true` when signing in may work later (the pool is unreachable).
   */
  getToken?: (options: GetTokenOptions) => Promise<string | null> | string | null;
  /** The WebSocket constructor; default globalThis.WebSocket. */
  WebSocket?: { new (url: string): WebSocket };
  clock?: Clock;
  random?: () => number;
  backoff?: Backoff;
  limits?: Limits;
  /** Renew the token this long before its exp (default 30,000); null: never ahead. */
  renewBeforeExpiryMs?: number | null;
  /** Fail a request with TIMEOUT after this long (default 30,000); 0: never. */
  requestTimeoutMs?: number;
  /** Send a ping this often while open (default 300,000: the gateway idles out at 10 min); null: never. */
  keepaliveMs?: number | null;
}

export interface ReplyUpdate {
  conversationId: string;
  messageId: string;
  /** The whole reply so far. */
  text: string;
  /** What was appended to the previous text ("" when `reset`). */
  delta: string;
  /** The text was replaced (a snapshot, or a final frame that differs). */
  reset: boolean;
  status: ReplyStatus;
  finishReason: string | null;
  done: boolean;
  contentTruncated: boolean;
  /** The ai_response frame, once done. */
  final?: Frame;
}

export type Frame = { type?: string; [key: string]: unknown };

export interface HistoryMessage {
  messageId: string;
  role: "user" | "assistant";
  content: string;
  timestamp: string;
  status: "complete" | "streaming" | "stopped" | "error" | "failed";
  /** Regenerated or edited: this is version `version` of `versions` (the newest). */
  version?: number;
  versions?: number;
}

export interface HistoryPage {
  type: "chat_history";
  conversationId: string;
  messages: HistoryMessage[];
  nextBefore: string | null;
  /** The model the conversation uses (an id of listModels()), or null for the default. */
  model: string | null;
}

export interface ConversationSummary {
  conversationId: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface ConversationPage {
  type: "conversations";
  conversations: ConversationSummary[];
  nextCursor: string | null;
}

export type TurnEvent =
  | { type: "ack"; frame: Frame }
  | { type: "text"; text: string; delta: string; reset: boolean; reply: ReplyUpdate }
  | { type: "final"; reply: ReplyUpdate }
  | { type: "error"; error: ChatClientError };

export interface ModelOption {
  id: string;
  label: string;
}

export interface MessageVersion extends HistoryMessage {
  version: number;
}

export interface MessageVersions {
  texts: MessageVersion[];
  answers: MessageVersion[];
}

export class Turn implements AsyncIterable<TurnEvent> {
  readonly message: string;
  readonly clientMessageId: string;
  /** Given to send(), or the one the server made (known from the ack on). */
  conversationId: string | null;
  /** The user message's id, from message_received. */
  messageId: string | null;
  /** The reply's messageId, from its first chunk or snapshot. */
  replyId: string | null;
  status: "sending" | "received" | "streaming" | "done" | "failed";
  reply: ReplyUpdate | null;
  error: ChatClientError | null;
  readonly finished: boolean;
  /** message_received; rejects with the error that ended the turn before it. */
  readonly received: Promise<Frame>;
  /** The final reply update; rejects with a ChatClientError. */
  readonly done: Promise<ReplyUpdate>;
  on(listener: (event: TurnEvent) => void): () => void;
  [Symbol.asyncIterator](): AsyncIterator<TurnEvent>;
}

export interface ClientEvents {
  state: { state: ConnectionState; attempt: number };
  open: { token: string | null; claims: Record<string, unknown> | null; reconnected: boolean };
  close: { code: number; reason: string; opened: boolean; error: ChatClientError; retryInMs: number | null };
  reply: ReplyUpdate;
  error: ChatClientError;
  frame: { frame: Frame; raw: string };
  sent: { frame: Frame; raw: string };
  [frameType: string]: unknown;
}

export class RealtimeChatClient {
  constructor(options: ClientOptions);
  readonly url: string;
  readonly state: ConnectionState;
  on<K extends keyof ClientEvents>(name: K, listener: (detail: ClientEvents[K]) => void): () => void;
  /** Resolves at the first open; rejects with an AuthError when getToken fails for good. */
  connect(): Promise<void>;
  close(): void;
  /** Reconnect at once with a fresh token. */
  renew(): void;
  /**
   * Throws InputError (EMPTY_MESSAGE, INVALID_MESSAGE, MESSAGE_TOO_LARGE,
   * FRAME_TOO_LARGE, INVALID_ID) or ConnectionError (NOT_CONNECTED) before sending.
   */
  send(message: string, options?: { conversationId?: string; clientMessageId?: string; model?: string }): Turn;
  /** Answers the conversation's last message again (a Turn, as send() gives). */
  regenerate(conversationId: string, options?: { clientMessageId?: string; model?: string }): Turn;
  /** Replaces the last message's text (messageId: its id) and answers it again. */
  edit(
    conversationId: string,
    messageId: string,
    message: string,
    options?: { clientMessageId?: string; model?: string },
  ): Turn;
  /** The models a conversation may use; empty when the server offers no choice. */
  listModels(): Promise<ModelOption[]>;
  /** The earlier texts and answers of the turn whose user message is messageId. */
  versions(conversationId: string, messageId: string): Promise<MessageVersions>;
  stop(conversationId: string): Promise<Frame>;
  history(conversationId: string, options?: { limit?: number; before?: string }): Promise<HistoryPage>;
  list(options?: { limit?: number; cursor?: string }): Promise<ConversationPage>;
  rename(conversationId: string, title: string): Promise<Frame>;
  delete(conversationId: string): Promise<Frame>;
  typing(conversationId: string, isTyping: boolean): Promise<Frame>;
  setStatus(status: "online" | "away" | "busy" | "offline"): Promise<Frame>;
  subscribe(notificationTypes: string[]): Promise<Frame>;
  debugStatus(): Promise<Frame>;
  ping(): Promise<{ rttMs: number; frame: Frame }>;
  /** Any action; resolves to its answer frame. */
  request(action: string, data?: Record<string, unknown>): Promise<Frame | undefined>;
  reply(messageId: string): ReplyUpdate | undefined;
  readonly pendingTurns: Turn[];
  newId(prefix?: string): string;
}

/** A client that starts connecting at once. */
export function connect(options: ClientOptions): RealtimeChatClient;

export class ReplyStore {
  apply(frame: Frame): ReplyUpdate | null;
  get(messageId: string): ReplyUpdate | undefined;
  inConversation(conversationId: string): ReplyUpdate[];
  fromHistory(conversationId: string, message: HistoryMessage): HistoryMessage;
  forget(conversationId: string): void;
}

export class ChatClientError extends Error {
  code: string;
  retryable: boolean;
  /** What to do about it, in a sentence. */
  hint: string;
  field?: string;
  requestId?: string;
  retryAfter?: number;
  clientMessageId?: string;
  closeCode?: number;
  [detail: string]: unknown;
}
export class InputError extends ChatClientError {}
export class ServerError extends ChatClientError {
  static fromFrame(frame: Frame): ServerError;
  frame: Frame;
}
export class ConnectionError extends ChatClientError {}
export class AuthError extends ChatClientError {}

export function hintFor(code: string, details?: { retryAfter?: number }): string;
export function explainClose(close: { code: number; opened: boolean; hadToken: boolean }): string;
export function checkMessage(message: string, limits?: Limits): InputError | null;
export function checkFrame(frame: Frame, limits?: Limits): InputError | null;
export function frameBytes(frame: Frame): number;
export function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number;
export function tokenClaims(token: string): Record<string, unknown>;
