// Validation of Kubernetes, Istio, KEDA and Prometheus Operator manifests against the schemas of kubernetes-models,
// @kubernetes-models/istio, @kubernetes-models/keda and @kubernetes-models/prometheus-operator, for
// tests/src/deploy-manifests.test.ts.
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { Gateway } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { dirname, join } from 'node:path';
import * as ts from 'typescript';

/** A manifest as parsed from YAML, with where it came from. */
export interface Manifest {
  readonly source: string;
  readonly object: Record<string, unknown>;
}

interface Kind {
  /** Builds the model, whose validate() runs the package's JSON schema (types, required fields, enums, formats). */
  readonly model: new (data: never) => { validate(): void };
  /** The package's TypeScript interface for it, generated from the same schema: the list of known fields. */
  readonly typeModule: string;
  readonly typeName: string;
}

const KINDS: Readonly<Record<string, Kind>> = {
  'v1/Namespace': { model: Namespace, typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' },
  'v1/ServiceAccount': { model: ServiceAccount, typeModule: 'kubernetes-models/v1/ServiceAccount', typeName: 'IServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' },
  'v1/Service': { model: Service, typeModule: 'kubernetes-models/v1/Service', typeName: 'IService' },
  'apps/v1/Deployment': { model: Deployment, typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    typeModule: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    typeName: 'IHorizontalPodAutoscaler',
  },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, typeModule: 'kubernetes-models/rbac.authorization.k8s.io/v1/Role', typeName: 'IRole' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, typeModule: 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding', typeName: 'IRoleBinding' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'keda.sh/v1alpha1/ScaledObject': { model: ScaledObject, typeModule: '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', typeName: 'IScaledObject' },
  // k8s/queue-worker: how KEDA's rabbitmq trigger reads the broker's management URL from a Secret.
  'keda.sh/v1alpha1/TriggerAuthentication': {
    model: TriggerAuthentication,
    typeModule: '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication',
    typeName: 'ITriggerAuthentication',
  },
  'monitoring.coreos.com/v1/PodMonitor': {
    model: PodMonitor,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    typeName: 'IPodMonitor',
  },
  'networking.istio.io/v1beta1/DestinationRule': {
    model: DestinationRule,
    typeModule: '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule',
    typeName: 'IDestinationRule',
  },
  'networking.istio.io/v1beta1/VirtualService': {
    model: VirtualService,
    typeModule: '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService',
    typeName: 'IVirtualService',
  },
  'networking.istio.io/v1beta1/Gateway': { model: Gateway, typeModule: '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway', typeName: 'IGateway' },
  'security.istio.io/v1beta1/AuthorizationPolicy': {
    model: AuthorizationPolicy,
    typeModule: '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy',
    typeName: 'IAuthorizationPolicy',
  },
  'security.istio.io/v1beta1/PeerAuthentication': {
    model: PeerAuthentication,
    typeModule: '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication',
    typeName: 'IPeerAuthentication',
  },
};

export function describeManifest(manifest: Manifest): string {
  const metadata = manifest.object['metadata'] as { name?: string } | undefined;
  return `${manifest.source}: ${String(manifest.object['kind'])} ${metadata?.name ?? '(no name)'}`;
}

function kindOf(manifest: Manifest): Kind | undefined {
  return KINDS[`${String(manifest.object['apiVersion'])}/${String(manifest.object['kind'])}`];
}

/**
 * Every problem of every manifest: a kind this project does not expect, a schema violation, or a field the schema
 * does not know. The schemas of kubernetes-models accept unknown fields (Kubernetes would drop them silently, or,
 * with server-side field validation, refuse the apply); the package's generated TypeScript interfaces list exactly
 * the known fields, so each manifest is also type-checked as an object literal of its interface, where the compiler
 * reports every excess property, at any depth.
 */
export function schemaProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const typed: { manifest: Manifest; kind: Kind }[] = [];
  for (const manifest of manifests) {
    const kind = kindOf(manifest);
    if (!kind) {
      problems.push(`${describeManifest(manifest)}: ${String(manifest.object['apiVersion'])} ${String(manifest.object['kind'])} is not a kind this project deploys`);
      continue;
    }
    try {
      new kind.model(manifest.object as never).validate();
    } catch (error) {
      problems.push(`${describeManifest(manifest)}: ${(error as Error).message}`);
    }
    typed.push({ manifest, kind });
  }
  problems.push(...unknownFieldProblems(typed));
  return problems;
}

/** One line of generated source per property, so that a compiler error's line names the manifest path. */
class LiteralWriter {
  readonly lines: string[] = [];
  readonly pathOfLine: string[] = [];

  write(value: unknown, path: string, prefix: string, suffix: string, indent: string): void {
    if (Array.isArray(value)) {
      this.push(`${indent}${prefix}[`, path);
      value.forEach((item, i) => this.write(item, `${path}[${i}]`, '', ',', `${indent}  `));
      this.push(`${indent}]${suffix}`, path);
    } else if (value !== null && typeof value === 'object') {
      this.push(`${indent}${prefix}{`, path);
      for (const [key, item] of Object.entries(value)) this.write(item, `${path}.${key}`, `${JSON.stringify(key)}: `, ',', `${indent}  `);
      this.push(`${indent}}${suffix}`, path);
    } else {
      this.push(`${indent}${prefix}${JSON.stringify(value)}${suffix}`, path);
    }
  }

  private push(line: string, path: string): void {
    this.lines.push(line);
    this.pathOfLine.push(path);
  }
}

function unknownFieldProblems(typed: readonly { manifest: Manifest; kind: Kind }[]): string[] {
  if (typed.length === 0) return [];
  // Beside this file, so that module resolution finds the packages as the tests do.
  const fileName = join(__dirname, '..', 'src', '__manifest_types__.ts');
  const writer = new LiteralWriter();
  const imports = new Map<string, string>();
  const owners: Manifest[] = [];
  for (const { kind } of typed) if (!imports.has(kind.typeModule)) imports.set(kind.typeModule, `T${imports.size}`);
  for (const [module, alias] of imports) writer.lines.push(`import type * as ${alias} from ${JSON.stringify(module)};`), writer.pathOfLine.push('');
  const firstLineOf: number[] = [];
  typed.forEach(({ manifest, kind }, i) => {
    firstLineOf.push(writer.lines.length);
    owners.push(manifest);
    writer.write(manifest.object, '', `export const m${i}: ${imports.get(kind.typeModule)}.${kind.typeName} = `, ';', '');
  });
  const source = writer.lines.join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError) =>
    name === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, onError);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));
  const program = ts.createProgram({ rootNames: [fileName], options, host });
  const sourceFile = program.getSourceFile(fileName)!;
  return ts.getPreEmitDiagnostics(program, sourceFile).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) return `type check (${dirname(fileName)}): ${message}`;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    let owner = 0;
    while (owner + 1 < firstLineOf.length && firstLineOf[owner + 1]! <= line) owner++;
    const path = writer.pathOfLine[line] ?? '';
    return `${describeManifest(owners[owner]!)}: at ${path || '(top)'}: ${message.split('\n')[0]}`;
  });
}
