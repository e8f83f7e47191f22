// Builds dist/ (index.html, app.js, style.css) from the packed @identity/browser tarball, as an
// app that installed it from a registry would get it: pack clients/browser, install the tarball
// without recording it, type-check against its .d.ts, bundle with esbuild.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const client = resolve(here, "../../clients/browser");
const packs = join(here, ".pack");
const run = (command, args, cwd = here) => execFileSync(command, args, { cwd, stdio: "inherit" });

rmSync(packs, { recursive: true, force: true });
mkdirSync(packs);
run("npm", ["pack", "--silent", "--pack-destination", packs], client); // prepack builds dist/
const [tarball] = readdirSync(packs).filter((name) => name.endsWith(".tgz"));
run("npm", ["install", "--no-save", "--silent", join(packs, tarball)]);
run(join(here, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--noEmit"]);

rmSync(join(here, "dist"), { recursive: true, force: true });
run(join(here, "node_modules/.bin/esbuild"), [
  "src/main.tsx",
  "--bundle",
  "--format=esm",
  "--target=es2022",
  "--jsx=automatic",
  "--define:process.env.NODE_ENV=\"production\"",
  "--log-level=warning",
  "--outfile=dist/app.js",
]);
for (const file of ["index.html", "style.css"]) copyFileSync(join(here, file), join(here, "dist", file));
