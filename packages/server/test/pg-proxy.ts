import { Socket, createServer } from "node:net";

/**
 * A TCP proxy to PostgreSQL that can fail the ways a network does:
 * - `blackhole()`: its open connections stay open but nothing passes either way (half-open
 *   links); connections made afterwards work;
 * - `loseCommitReply()`: the next `commit` a client sends reaches the server, but the
 *   connection is cut before the answer comes back (the client cannot tell whether it committed);
 * - `down()`: its open connections are cut and new ones refused (a server that is down), until
 *   `up()`.
 */
export async function pgProxy(target: string) {
  const to = new URL(target);
  /** `dead`: nothing passes; `cutting`: the client side is gone, the server side about to go. */
  const links = new Set<{ dead: boolean; cutting: boolean }>();
  const sockets = new Set<Socket>();
  let cutAfterCommit = false;
  const server = createServer((down) => {
    const up = new Socket();
    up.connect(Number(to.port || 5432), to.hostname);
    const link = { dead: false, cutting: false };
    links.add(link);
    sockets.add(down);
    sockets.add(up);
    const end = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
      links.delete(link);
    };
    down.on("data", (d: Buffer) => {
      if (link.dead) return;
      up.write(d);
      // A simple-protocol Query message holding `commit` (what Kysely sends to commit).
      if (cutAfterCommit && d[0] === 0x51 && d.includes("commit\0")) {
        cutAfterCommit = false;
        link.dead = true;
        link.cutting = true;
        down.destroy();
        // Long enough for the server to read and run the commit before it sees the close.
        setTimeout(end, 200);
      }
    });
    up.on("data", (d) => void (link.dead || down.write(d)));
    for (const s of [down, up]) {
      s.on("error", end);
      s.on("close", () => (s === down && link.cutting ? undefined : end()));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const url = new URL(target);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    blackhole() {
      for (const l of links) l.dead = true;
    },
    loseCommitReply() {
      cutAfterCommit = true;
    },
    async down() {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async up() {
      await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise((r) => server.close(r));
    },
  };
}
