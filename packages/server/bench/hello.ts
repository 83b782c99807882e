/** A bare Fastify hello-world server: the ceiling the verify endpoint is compared with. */
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.post("/", async () => ({ hello: "world" }));
app.get("/", async () => ({ hello: "world" }));
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
process.stdout.write("ready\n");
