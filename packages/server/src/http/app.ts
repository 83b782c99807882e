import { existsSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import proxyAddr from "@fastify/proxy-addr";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import scalar from "@scalar/fastify-api-reference";
import type { DestinationStream } from "pino";
import fastJsonStringify from "fast-json-stringify";
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import { AppError, ERROR_CODES, type ErrorCode, invalidField } from "../domain/errors.js";
import type { OrgAccess } from "../services/access.js";
import { isRefusal, writeRefusal } from "../services/audit.js";
import { badTextAt, stringAt } from "../domain/text.js";
import { holdsCredential } from "../domain/keys/secret.js";
import { requestIds } from "../domain/ids.js";
import { normaliseIp } from "../domain/ip-rules.js";
import { redactCredentials } from "../domain/redact.js";
import type { RequestCtx } from "../services/deps.js";
import type { Services } from "../services/index.js";
import { type BearerResolver, authenticate } from "./authenticate.js";
import { createMetrics } from "./metrics.js";
import { PROBLEM_CONTENT_TYPE, errorHandler, problem, sendProblem } from "./problem.js";
import { registerRoutes } from "./routes/index.js";
import { verifyAnswerer } from "./routes/verify.js";
import { Problem, problemMediaType } from "./schemas/common.js";
import { VerifyBody, VerifyResponse } from "./schemas/verify.js";
import { VERIFY_PATH, verifyLane } from "./verify-lane.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * The route judges a credential in its input itself (a key with a NUL is MALFORMED, a token
     * inactive): the request text check (badTextAt) leaves it alone.
     */
    judgesCredentials?: boolean;
    /** The input carries a credential by design (a key to exchange): the credential check leaves it alone. */
    carriesCredential?: boolean;
    /** An `Authorization` header or session cookie is not read: the route answers anyone alike. */
    ignoresCallerCredential?: boolean;
    /**
     * A change whose refusals (403 FORBIDDEN, 422 POLICY_VIOLATION) are written to the org's
     * audit log as denied, with the action and target it would have had.
     */
    audit?: { action: string; target?: (req: FastifyRequest) => { type: string; id: string } | undefined };
  }
  interface FastifyRequest {
    ctx: RequestCtx;
    /** The org access the route loaded (routes/helpers accessTo), for auditing a refusal. */
    orgAccess?: OrgAccess;
    /** `performance.now()` when the request arrived (for the duration metric). */
    startedAt: number;
  }
}

const ANONYMOUS: RequestCtx["actor"] = Object.freeze({ kind: "anonymous" });

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface AppOptions {
  logger?: FastifyServerOptions["logger"] | false;
  /** Extra bearer credential kinds (API keys, tokens) plugged in by later features. */
  bearerResolvers?: BearerResolver[];
  /** Built console to serve at `/` (packages/console/dist). */
  consoleDir?: string;
}

/**
 * Query strings and path parameters are text, so their validator coerces ("50" -> 50);
 * JSON bodies are typed already and validated without coercion, so `0` never becomes
 * `null`, `"5"` never becomes 5 and `1` never becomes `true`.
 */
const ajvCompiler = createRequire(createRequire(import.meta.url).resolve("fastify"))("@fastify/ajv-compiler")();
// biome-ignore lint/suspicious/noExplicitAny: fastify's ValidatorFactory typing is a union of ajv and JTD shapes
function strictBodyValidator(externalSchemas: any, options: any): any {
  const opts = { customOptions: {}, ...options };
  const coercing = ajvCompiler(externalSchemas, opts);
  const strict = ajvCompiler(externalSchemas, {
    ...opts,
    customOptions: { ...opts.customOptions, coerceTypes: false },
  });
  return (route: { httpPart?: string }) => (route.httpPart === "body" ? strict(route) : coercing(route));
}

/**
 * A request URL as logs may hold it: nothing shaped like a credential, wherever a client put it
 * (an invitation link `/invite/inv_…`, a key pasted into a path or a query), and no value of a
 * query parameter named like one (`?password=`, `?access_token=`).
 * @example redactUrl("/v1/invitations/inv_…(40 chars)/accept") // "/v1/invitations/[redacted]/accept"
 */
export const redactUrl = (url: string) =>
  redactCredentials(url).replace(/([?&][^=&]*(?:pass|secret|token|key|auth)[^=&]*=)[^&]*/gi, "$1[redacted]");

/**
 * Structured JSON log options with the redaction every Keyward logger needs: requests are
 * logged as method, URL (invitation tokens removed), IP and request id; never headers,
 * bodies, cookies or credentials. Pass `stream` to send the lines elsewhere (tests).
 */
export function loggerOptions(level: string, stream?: DestinationStream) {
  return {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'res.headers["set-cookie"]',
        "password",
        "*.password",
        "token",
        "*.token",
        "secret",
        "*.secret",
      ],
      censor: "[redacted]",
    },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        ip: req.ip,
        reqId: req.id,
      }),
    },
    ...(stream ? { stream } : {}),
  };
}

const AJV = {
  customOptions: { removeAdditional: false, coerceTypes: "array" as const, allErrors: true, useDefaults: true },
};
const BODY_LIMIT = 64 * 1024;

/**
 * The console's pages and files: not to be framed (clickjacking), sniffed, or named in a
 * Referer (an invitation link carries its token); scripts only its own.
 */
const CONSOLE_HEADERS: [string, string][] = [
  [
    "content-security-policy",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  ],
  ["x-frame-options", "DENY"],
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
];

/** The server settings Fastify applies to the server it makes (with their defaults filled in). */
interface ServerSettings {
  http?: object;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

export async function buildApp(services: Services, opts: AppOptions = {}): Promise<App> {
  const { config } = services.deps;
  const nextRequestId = requestIds();
  // POST /v1/verify is answered in front of Fastify once the app is built (see verify-lane.ts).
  let lane: ((req: IncomingMessage, res: ServerResponse) => boolean) | null = null;
  /** Made once the services' parts are at hand (below); Fastify's framework errors use it too. */
  let metrics: ReturnType<typeof createMetrics>;
  const app = Fastify({
    logger: opts.logger === false ? false : (opts.logger ?? loggerOptions(config.logLevel)),
    genReqId: nextRequestId,
    requestIdHeader: false,
    // Verify answers are counted in /metrics; a log line each is opt-in (KEYWARD_LOG_VERIFY_REQUESTS).
    logController: new LogController({
      disableRequestLogging: (req) => !config.logVerifyRequests && req.url === VERIFY_PATH,
    }),
    bodyLimit: BODY_LIMIT,
    // What Fastify answers before any route or hook (a URL it cannot decode): problem+json like
    // every other 400, and counted in /metrics (no onSend hook runs for it).
    frameworkErrors: (_err, req, reply) => {
      sendProblem(reply, "INVALID_REQUEST", "The URL is not valid (bad percent-encoding)", req.id);
      metrics.observe(req, reply, 0);
    },
    // A request must arrive whole within this time (Node answers 408 through the handler below):
    // a client that stops in the middle of its body holds no request, and no shutdown, forever.
    requestTimeout: config.requestTimeoutMs,
    // What Node's HTTP parser refuses before any route or the lane sees it (bad framing: a
    // chunk size that is no number, Content-Length twice or beside Transfer-Encoding; headers
    // too large; a request that did not arrive in time): problem+json like every other error.
    clientErrorHandler: (err, socket) => {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ECONNRESET" || socket.destroyed) return;
      const [code, detail]: [ErrorCode, string] =
        e.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? ["REQUEST_TIMEOUT", `The request did not arrive whole within ${config.requestTimeoutMs} ms`]
          : e.code === "HPE_HEADER_OVERFLOW"
            ? ["HEADERS_TOO_LARGE", "The request's headers are too large"]
            : ["INVALID_REQUEST", "The request is not valid HTTP/1.1 (its framing could not be read)"];
      const requestId = nextRequestId();
      const { status, body } = problem(code, detail, requestId);
      const { title } = ERROR_CODES[code];
      if (socket.writable)
        socket.write(
          `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
        );
      socket.destroy();
    },
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    ajv: AJV,
    schemaController: { compilersFactory: { buildValidator: strictBodyValidator } },
    // Fastify's own HTTP/1 server (lib/server.js), with the lane asked first.
    serverFactory: (handler, options) => {
      const o = options as ServerSettings;
      // Node checks for requests past their timeout this often (its default, 30 s, would let a
      // stalled request live up to twice its timeout).
      const checking = Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4)));
      // Given at creation: Node reads the request timeout from its options (set later, it is ignored).
      const timeouts = {
        requestTimeout: o.requestTimeout ?? 0,
        headersTimeout: Math.min(60_000, o.requestTimeout || 60_000),
        connectionsCheckingInterval: checking,
      };
      const server = createServer({ ...(o.http ?? {}), ...timeouts }, (req, res) => {
        if (lane === null || !lane(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = o.keepAliveTimeout ?? 72_000;
      server.setTimeout(o.connectionTimeout ?? 0);
      if (o.maxRequestsPerSocket) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
      return server;
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Each route's method and path, so a request for a known path with another method is a 405
  // naming the methods it takes (Allow), not a 404 saying there is no such route.
  const routes: { method: string; path: RegExp }[] = [];
  app.addHook("onRoute", (r) => {
    const path = new RegExp(`^${r.url.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+")}$`);
    for (const method of [r.method].flat()) routes.push({ method, path });
  });
  const noRoute = (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.url.split("?")[0];
    const allowed = [...new Set(routes.filter((r) => r.path.test(p)).map((r) => r.method))];
    if (allowed.length === 0) return sendProblem(reply, "NOT_FOUND", `No route ${req.method} ${p}`, req.id);
    reply.header("allow", allowed.join(", "));
    return sendProblem(reply, "METHOD_NOT_ALLOWED", `${p} takes ${allowed.join(", ")}, not ${req.method}`, req.id);
  };

  // The API speaks JSON only: any other body (text/plain included) is a 415.
  app.removeContentTypeParser("text/plain");
  app.decorateRequest("ctx", null as unknown as RequestCtx);
  app.decorateRequest("startedAt", 0);
  app.setErrorHandler(errorHandler);
  // A refused change of a route that audits its changes is written to the org's log as denied.
  app.addHook("onError", async (req, _reply, err) => {
    const audit = req.routeOptions.config.audit;
    const orgId = req.orgAccess?.org.id;
    if (!audit || !orgId || !isRefusal(err)) return;
    const target = audit.target?.(req);
    await writeRefusal(
      services.deps.db.kysely,
      req.ctx,
      services.deps.now(),
      { orgId, action: audit.action, target },
      err,
    ).catch((e) => req.log.error({ err: e }, "writing a refused change to the audit log failed"));
  });
  // With a built console the not-found handler (SPA fallback) is set below: Fastify allows one per prefix.
  const servesConsole = !!opts.consoleDir && existsSync(path.join(opts.consoleDir, "index.html"));
  if (!servesConsole) {
    app.setNotFoundHandler(noRoute);
  }
  app.addSchema(Problem);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Keyward API",
        version: "1.0.0",
        description:
          "Organizations, projects, service accounts, roles and scoped API keys. Errors are RFC 9457 problem+json with a stable `code`.",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "API key, exchanged token or session token" },
          session: {
            type: "apiKey",
            in: "cookie",
            name: "kw_session",
            description: "Console session (send X-CSRF-Token on writes)",
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
    transformObject: (doc) => ("openapiObject" in doc ? problemMediaType(doc.openapiObject) : doc.swaggerObject),
  });
  await app.register(scalar, {
    routePrefix: "/docs",
    // Self-contained docs: no fonts from Scalar's CDN, no request proxy (requests go straight
    // to this server), no hosted client, agent, MCP or developer-tool links to scalar.com.
    configuration: {
      url: "/openapi.json",
      withDefaultFonts: false,
      proxyUrl: "",
      telemetry: false,
      hideClientButton: true,
      showDeveloperTools: "never",
      agent: { disabled: true },
      mcp: { disabled: true },
    },
  });

  const { verify } = services;
  metrics = createMetrics(services.deps.db, verify.cache, verify.loader, verify.callers, verify.usage);
  /** Every /v1 route needs a credential unless its schema says `security: []`. */
  const needsCredential = (req: FastifyRequest) => {
    const route = req.routeOptions;
    if (!route.url?.startsWith("/v1/")) return false;
    const security = (route.schema as { security?: unknown[] } | undefined)?.security;
    return !(Array.isArray(security) && security.length === 0);
  };
  const authenticateRequest = authenticate(services, opts.bearerResolvers ?? [], needsCredential);
  // One hook for what every request needs, in order: its context, its credential, and deny
  // by default, checked before any lookup so anonymous callers cannot probe which ids exist.
  // (One hook rather than three: each hook costs every request, including every /v1/verify.)
  const denyAnonymous = (req: FastifyRequest) => {
    if (req.ctx.actor.kind !== "anonymous" || !needsCredential(req)) return;
    throw new AppError("UNAUTHENTICATED", "Sign in or present an API key");
  };
  const trust = config.trustedProxies.length > 0 ? proxyAddr.compile(config.trustedProxies) : null;
  /**
   * The client's address: the socket's, or behind trusted proxies the nearest forwarded address
   * that is not one of theirs (as Fastify's `req.ip`). An entry that is no address at all (a
   * proxy passes on whatever its client wrote, a zone id of markup) is skipped for the hop that
   * forwarded it, so junk never becomes a `lastUsedIp` or an audit event's address.
   */
  const clientAddress = (req: IncomingMessage): string | null => {
    // As normalised, never as sent: a server listening on `::` sees IPv4 clients as ::ffff:….
    // (An IPv4 socket address is already in its one spelling: left as it is, on the hot path.)
    if (trust === null) {
      const remote = req.socket.remoteAddress;
      if (remote === undefined) return null;
      return remote.includes(":") ? normaliseIp(remote) : remote;
    }
    const addrs = proxyAddr.all(req, trust);
    for (let i = addrs.length - 1; i >= 0; i--) {
      // As normalised (zone dropped), never as sent: it is stored, logged and shown.
      const ip = normaliseIp(addrs[i]);
      if (ip !== null) return ip;
    }
    return null;
  };
  // Callback style, and synchronous when the credential is warm: no promise per request.
  app.addHook("onRequest", (req, reply, done) => {
    req.startedAt = performance.now();
    reply.header("x-request-id", req.id);
    req.ctx = {
      actor: ANONYMOUS,
      ip: clientAddress(req.raw),
      userAgent: req.headers["user-agent"] ?? null,
      requestId: req.id,
    };
    // A route whose answer is the same for anyone (the JWKS) or whose credential is in its body
    // (the token exchange) does not read the caller's: a fetcher's unrelated header is no 401.
    if (req.routeOptions.config.ignoresCallerCredential) return done();
    let waiting: void | Promise<void>;
    try {
      waiting = authenticateRequest(req);
      if (!waiting) denyAnonymous(req);
    } catch (err) {
      return done(err as Error);
    }
    if (!waiting) return done();
    waiting.then(() => denyAnonymous(req)).then(() => done(), done);
  });
  // Before the schemas: text no field may hold, anywhere in the input, but on routes that judge
  // a presented credential (`judgesCredentials`): decisions, not errors. That is characters no
  // database keeps as sent (see badTextAt), and credentials: a key or token pasted into a name
  // would be stored, audited and shown to every reader, so it is refused before anything is.
  const isCredential = (s: string) => holdsCredential(s, config.keyPrefixes);
  app.addHook("preValidation", (req, _reply, done) => {
    if (req.routeOptions.config.judgesCredentials) return done();
    for (const value of [req.body, req.query, req.params]) {
      const path = badTextAt(value);
      if (path !== null)
        return done(invalidField(path, "must not hold a NUL character or an unpaired surrogate", "characters"));
      const secretAt = req.routeOptions.config.carriesCredential ? null : stringAt(value, isCredential);
      if (secretAt !== null)
        return done(
          invalidField(
            secretAt,
            "holds an API key secret or a token: credentials are never stored (if it was shared, regenerate that key)",
            "credential",
          ),
        );
    }
    done();
  });
  // Graceful shutdown: once closing, answers in flight carry `Connection: close`, so
  // keep-alive clients let go and close() does not wait out the keep-alive timeout.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  // Every answer passes here, errors and 404s included. Metrics are counted here rather than
  // in an onResponse hook, which would make Fastify listen for every response's end: the
  // duration is to the answer's hand-over to the socket.
  app.addHook("onSend", (req, reply, payload, done) => {
    // startedAt is 0 only for an answer Fastify gave before any hook ran (a malformed URL).
    metrics.observe(req, reply, req.startedAt > 0 ? (performance.now() - req.startedAt) / 1000 : 0);
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  await registerRoutes(app, services);

  lane = verifyLane({
    resolvers: opts.bearerResolvers ?? [],
    answer: verifyAnswerer(services),
    validate: strictBodyValidator({}, AJV)({ schema: VerifyBody, method: "POST", url: VERIFY_PATH, httpPart: "body" }),
    serialize: fastJsonStringify(VerifyResponse),
    clientIp: clientAddress,
    nextRequestId,
    record: metrics.record,
    closing: () => closing,
    bodyLimit: BODY_LIMIT,
    log: app.log,
    logRequests: config.logVerifyRequests,
  });

  const consoleDir = opts.consoleDir;
  if (consoleDir && existsSync(path.join(consoleDir, "index.html"))) {
    await app.register(fastifyStatic, {
      root: consoleDir,
      prefix: "/",
      wildcard: false,
      index: ["index.html"],
      setHeaders: (res) => {
        for (const [name, value] of CONSOLE_HEADERS) res.setHeader(name, value);
      },
    });
    // Client-side routes fall back to the SPA; API paths keep their problem+json 404.
    app.setNotFoundHandler((req, reply) => {
      const p = req.url.split("?")[0];
      if (req.method === "GET" && !p.startsWith("/v1/") && !p.includes(".")) return reply.sendFile("index.html");
      return noRoute(req, reply);
    });
  }
  return app;
}
