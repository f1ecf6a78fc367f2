// Every public name of fashion-mnist-lib (each export of lib/index.ts) must
// carry a doc comment where it is declared. TypeDoc's own check skips `tf`
// (tfjs's namespace, left out of the site), so this one counts them all.
// `--list` prints each name with its comment's first line.
import * as path from "path";
import * as ts from "typescript";

export interface PublicName {
  name: string;
  /** The declaration's file, relative to lib/. */
  file: string;
  /** The doc comment's text (summary and tags), empty when there is none. */
  doc: string;
}

/**
 * The doc comment of a declaration: the last `/** ... *\/` block right before
 * it, not counting a file's own comment (`@module`), which documents the file.
 */
function docOf(node: ts.Node): string {
  const text = node.getSourceFile().text;
  const blocks = (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [])
    .map((r) => text.slice(r.pos, r.end))
    .filter((c) => c.startsWith("/**") && !/@module|@packageDocumentation/.test(c));
  return blocks.at(-1) ?? "";
}

/** Every export of lib/index.ts, with the comment on its declaration in lib/. */
export function publicNames(libDir: string): PublicName[] {
  const configFile = path.join(libDir, "tsconfig.json");
  const config = ts.getParsedCommandLineOfConfigFile(
    configFile,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error(`Cannot read ${configFile}`);
  const program = ts.createProgram([path.join(libDir, "index.ts")], config.options);
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(path.join(libDir, "index.ts"));
  if (!index) throw new Error(`Cannot compile ${libDir}/index.ts`);
  const moduleSymbol = checker.getSymbolAtLocation(index);
  if (!moduleSymbol) throw new Error("lib/index.ts has no exports");
  return checker.getExportsOfModule(moduleSymbol).map((exported) => {
    // Follow re-exports until the declaration inside lib/ (for `tf`, the
    // `export { tf }` of lib/runtime/tf.ts; tfjs's own declarations are not ours).
    let symbol = exported;
    let inLib: ts.Declaration | undefined;
    for (;;) {
      const decl = symbol.declarations?.find(
        (d) => !path.relative(libDir, d.getSourceFile().fileName).startsWith(".."),
      );
      if (decl && !ts.isExportSpecifier(decl)) {
        inLib = decl;
        break;
      }
      if (decl && docOf(decl.parent.parent)) {
        inLib = decl.parent.parent; // `/** ... */ export { x };`
        break;
      }
      if (!(symbol.flags & ts.SymbolFlags.Alias)) break;
      const next = checker.getImmediateAliasedSymbol(symbol);
      if (!next || next === symbol) break;
      symbol = next;
    }
    // A variable's comment sits on its statement, not its declarator.
    const holder = inLib && ts.isVariableDeclaration(inLib) ? inLib.parent.parent : inLib;
    return {
      name: exported.name,
      file: holder ? path.relative(libDir, holder.getSourceFile().fileName) : "?",
      doc: holder ? docOf(holder) : "",
    };
  });
}

if (require.main === module) {
  const libDir = path.resolve(__dirname, "..", "..", "lib");
  const names = publicNames(libDir);
  const missing = names.filter((n) => !n.doc);
  if (process.argv.includes("--list"))
    for (const n of names) console.log(`${n.doc ? "ok " : "-- "} ${n.name} (${n.file}) ${n.doc.split("\n")[0] ?? ""}`);
  for (const n of missing) console.error(`no doc comment: ${n.name} (lib/${n.file})`);
  console.log(
    `${names.length - missing.length} of ${names.length} public names of fashion-mnist-lib have a doc comment`,
  );
  if (missing.length) process.exit(1);
}
