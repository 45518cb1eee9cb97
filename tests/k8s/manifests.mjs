// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Checks of rendered Kubernetes manifests (kustomize build output), for
 * tests/deploy.sh. The validators come from the npm registry, pinned in
 * package-lock.json beside this file, and work offline:
 *
 *   node manifests.mjs MODULES FILE json     the documents, as a JSON array
 *   node manifests.mjs MODULES FILE schema   kubernetes-models: each object
 *       against the JSON schema generated from the Kubernetes OpenAPI
 *       spec (types, required fields, formats such as quantities)
 *   node manifests.mjs MODULES FILE strict   @kubernetes/client-node's
 *       generated models: a field the API does not define (a typo) is
 *       dropped when the object is read, and so reported here
 *
 * MODULES is the node_modules directory the set-up installed. Exit 0 when
 * every object passes; else one line per problem on stdout, exit 1.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, file, command] = process.argv.slice(2);
const require = createRequire(join(modules, "noop.js"));
const yaml = require("js-yaml");
const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);

function where(doc) {
	return `${doc.kind}/${doc.metadata?.name}`;
}

/* kubernetes-models lays its classes out as GROUP/VERSION/KIND. */
function schemaProblems(doc) {
	let Model;

	try {
		Model = require(`kubernetes-models/${doc.apiVersion}/${doc.kind}`)[doc.kind];
	} catch {
		return [`${where(doc)}: no schema for ${doc.apiVersion} ${doc.kind}`];
	}
	try {
		new Model(doc).validate();
		return [];
	} catch (e) {
		return [`${where(doc)}: ${e.message}`];
	}
}

/* Paths of the fields of a that b lacks. */
function dropped(a, b, path) {
	if (Array.isArray(a))
		return a.flatMap((v, i) => dropped(v, b?.[i], `${path}[${i}]`));
	if (a === null || typeof a !== "object")
		return [];
	return Object.keys(a).flatMap((k) =>
		b === null || typeof b !== "object" || !(k in b) ?
			[`${path}.${k}`] : dropped(a[k], b[k], `${path}.${k}`));
}

async function strictProblems(doc) {
	const url = pathToFileURL(join(modules,
		"@kubernetes/client-node/dist/gen/models/ObjectSerializer.js"));
	const { ObjectSerializer } = await import(url.href);
	const version = doc.apiVersion.split("/").pop();
	const type = version[0].toUpperCase() + version.slice(1) + doc.kind;
	const read = ObjectSerializer.deserialize(doc, type);
	const back = ObjectSerializer.serialize(read, type);

	if (!ObjectSerializer.findCorrectType(doc, type) ||
	    typeof back !== "object")
		return [`${where(doc)}: no model for ${type}`];
	return dropped(doc, back, "").map((p) =>
		`${where(doc)}: unknown field ${p.slice(1)}`);
}

let problems = [];

if (command === "json") {
	process.stdout.write(JSON.stringify(docs));
	process.exit(0);
} else if (command === "schema") {
	problems = docs.flatMap(schemaProblems);
} else if (command === "strict") {
	for (const doc of docs)
		problems.push(...await strictProblems(doc));
} else {
	console.log(`unknown command ${command}: json, schema or strict`);
	process.exit(2);
}
if (!docs.length)
	problems.push(`${file}: no documents`);
for (const p of problems)
	console.log(p);
process.exit(problems.length ? 1 : 0);
