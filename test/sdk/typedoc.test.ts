import { join } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const index = join(import.meta.dirname, '../../sdk/src/index.ts');

/**
 * The SDK's public surface — everything sdk/src/index.ts exports, and the methods,
 * accessors and properties of its classes and interfaces' methods — each with TypeDoc
 * carrying an @example, as STYLE.md asks.
 */
it('documents every public member of the SDK with an @example', () => {
  const program = ts.createProgram([index], {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(index);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error('cannot read sdk/src/index.ts');

  const hasExample = (symbol: ts.Symbol) =>
    symbol.getJsDocTags(checker).some((tag) => tag.name === 'example');
  const internal = (symbol: ts.Symbol) =>
    symbol.getJsDocTags(checker).some((tag) => tag.name === 'internal');
  const missing: string[] = [];

  for (const exported of checker.getExportsOfModule(module)) {
    const symbol =
      exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const name = exported.getName();
    const declaration = symbol.declarations?.[0];
    if (!declaration) continue;
    // The shared code list is the server's as much as the SDK's, documented as data there.
    if (declaration.getSourceFile().fileName.endsWith('/error-codes.ts')) continue;
    if (!hasExample(symbol)) missing.push(name);
    if (ts.isClassDeclaration(declaration)) {
      for (const member of declaration.members) {
        if (!member.name || ts.isPrivateIdentifier(member.name)) continue;
        if (ts.isConstructorDeclaration(member)) continue;
        const modifiers = ts.getCombinedModifierFlags(member);
        if (modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
        const memberSymbol = checker.getSymbolAtLocation(member.name);
        if (memberSymbol && !internal(memberSymbol) && !hasExample(memberSymbol)) {
          missing.push(`${name}.${memberSymbol.getName()}`);
        }
      }
    }
    if (ts.isInterfaceDeclaration(declaration)) {
      for (const member of declaration.members) {
        if (!ts.isMethodSignature(member) || !member.name) continue;
        const memberSymbol = checker.getSymbolAtLocation(member.name);
        if (memberSymbol && !hasExample(memberSymbol)) {
          missing.push(`${name}.${memberSymbol.getName()}`);
        }
      }
    }
  }
  expect(missing).toEqual([]);
});
