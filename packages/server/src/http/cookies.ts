import { parse, serialize, type SerializeOptions } from "cookie";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Cookies, read and written only where they are used (the session cookie and its CSRF twin),
 * rather than through a plugin whose hooks would run on every request, /v1/verify included.
 */
export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  return header ? parse(header)[name] : undefined;
}

/** Adds `Set-Cookie` headers to the reply. */
export function setCookies(reply: FastifyReply, cookies: { name: string; value: string; options: SerializeOptions }[]) {
  reply.header(
    "set-cookie",
    cookies.map((c) => serialize(c.name, c.value, c.options)),
  );
}

/** Tells the browser to drop cookies (empty value, expired). */
export function clearCookies(reply: FastifyReply, names: string[], options: { path: string }) {
  setCookies(
    reply,
    names.map((name) => ({ name, value: "", options: { ...options, expires: new Date(0), maxAge: 0 } })),
  );
}
