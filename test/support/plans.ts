import type { SqlPool } from '../../src/stores/database.js';

/** A node of Postgres's JSON plan, with the fields the tests read. */
export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Parent Relationship'?: string;
  readonly Plans?: readonly PlanNode[];
}

/**
 * The pool, through which each DELETE sent as text and values is first explained (EXPLAIN runs
 * nothing) and then run; `plans` holds the plans, in order.
 */
export function explainingDeletes(pool: SqlPool): { pool: SqlPool; plans: PlanNode[] } {
  const plans: PlanNode[] = [];
  const explaining = new Proxy(pool, {
    get: (target, property, receiver) =>
      property === 'query'
        ? async (text: unknown, values: unknown) => {
            if (typeof text === 'string' && text.startsWith('DELETE')) {
              const { rows } = await target.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${text}`, values as unknown[]);
              plans.push(rows[0]!['QUERY PLAN'][0].Plan);
            }
            return target.query(text as string, values as unknown[]);
          }
        : Reflect.get(target, property, receiver),
  });
  return { pool: explaining, plans };
}

/** What a DELETE's plan reads the rows to delete with: its node's outer child. */
export const rowsToDelete = (plan: PlanNode): PlanNode | undefined => plan.Plans?.find((child) => child['Parent Relationship'] === 'Outer');

/** Every node of a plan, its own first (subplans and init plans included). */
export const planNodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
