import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkAgainstScrape, promtool, selectorsOf } from '../helpers/promql.js';
import { parseSamples, scrapeFirstFailedPush, scrapeFreshRun, scrapeRun, type Sample } from '../helpers/run-scrape.js';
import { validateSchema } from '../unit/manifests/kube-schema.js';

/**
 * The PrometheusRule and the Grafana dashboard in manifests/monitoring, measured against a real /metrics page of
 * `reshifter run` (every metric and label they use must be on it), checked by promtool, and the alerts evaluated
 * by `promtool test rules` on series made from that page.
 */
const MON = new URL('../../manifests/monitoring/', import.meta.url).pathname;
type Doc = Record<string, any>;
type Rule = { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };

const rule = parse(readFileSync(`${MON}prometheusrule.yaml`, 'utf8')) as Doc;
const rules = (rule.spec.groups as Array<{ name: string; rules: Rule[] }>).flatMap((g) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
const dashboard = JSON.parse(readFileSync(`${MON}grafana-dashboard.json`, 'utf8')) as Doc;
/** Continuous backups are on their way: their metrics may be absent from today's page (README, Observability). */
const notYetExported = (name: string) => name.startsWith('reshifter_delta_');

let page: string;
let samples: Sample[];
/** A `run` just started on an empty store, and a Pushgateway after the first one-off backup ever failed. */
let fresh: Sample[];
let firstPushFailed: Sample[];
beforeAll(async () => {
  page = await scrapeRun();
  samples = parseSamples(page);
  fresh = parseSamples(await scrapeFreshRun());
  firstPushFailed = parseSamples(await scrapeFirstFailedPush());
}, 240_000);

describe('PrometheusRule', () => {
  it('validates against the Prometheus Operator schema and holds the alerts the README lists', async () => {
    expect(await validateSchema(rule as { apiVersion: string; kind: string })).toEqual([]);
    expect(rules.filter((r) => r.alert).map((r) => r.alert).sort()).toEqual([
      'ReshifterBackupFailed', 'ReshifterBackupMissing', 'ReshifterBackupsFailingOften', 'ReshifterBackupsOfSeveralEtcdClusters', 'ReshifterDeltaLagHigh',
      'ReshifterMetricsAbsent', 'ReshifterRetentionDeletingTooMuch', 'ReshifterRetentionFailing',
    ]);
    for (const r of rules.filter((x) => x.alert)) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });

  it('uses only metrics and labels a real scrape of `run` has (the delta metric excepted until it lands)', () => {
    expect(samples.some((s) => s.name === 'reshifter_backup_total' && s.labels.outcome === 'failure')).toBe(true);
    const problems = rules.flatMap((r) => checkAgainstScrape(r.expr, samples, { recorded, allowMissing: notYetExported }).map((p) => `${r.alert ?? r.record}: ${p}`));
    expect(problems).toEqual([]);
    // Only the delta alert may wait for its metric.
    const waiting = rules.filter((r) => selectorsOf(r.expr).some((s) => notYetExported(s.name)));
    expect(waiting.map((r) => r.alert)).toEqual(['ReshifterDeltaLagHigh']);
    // The same check does fail on a name the page lacks.
    expect(checkAgainstScrape('reshifter_backup_last_sucess_timestamp_seconds > 0', samples)).not.toEqual([]);
    expect(checkAgainstScrape('reshifter_backup_total{outcome="failed"}', samples)).not.toEqual([]);
  });

  it('promtool accepts the rules', () => {
    const res = promtool((dir) => ['check', 'rules', `${dir}/rules.yaml`], { 'rules.yaml': { groups: rule.spec.groups } });
    expect(res.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(res.code).toBe(0);
    const broken = promtool((dir) => ['check', 'rules', `${dir}/rules.yaml`], {
      'rules.yaml': { groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'time() - reshifter_backup_last_success_timestamp_seconds >' }] }] },
    });
    expect(broken.code).not.toBe(0);
  });

  it('each alert fires when it should and not otherwise (promtool test rules on series from the scrape)', () => {
    const res = promtool((dir) => ['test', 'rules', `${dir}/tests.yaml`], {
      'rules.yaml': { groups: withoutAnnotations(rule.spec.groups) },
      'tests.yaml': { rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [...alertScenarios(samples), ...firstBackupScenarios(fresh, firstPushFailed)] },
    });
    expect(res.output).toContain('SUCCESS');
    expect(res.code).toBe(0);
    // promtool evaluates every scenario over every series of the scrape: ~10 s of CPU on a quiet 2-core machine, and
    // past vitest's 60 s with the suite's other files beside it (a CI run under load timed out here).
  }, 240_000);
});

describe('Grafana dashboard', () => {
  const panels = (dashboard.panels as Doc[]).filter((p) => p.type !== 'row');
  const queries = panels.flatMap((p) => (p.targets as Doc[]).map((t) => ({ panel: p.title as string, ref: t.refId as string, expr: t.expr as string })));
  /** Grafana's variables, as Prometheus would see them once Grafana has filled them in. */
  const filled = (expr: string) => expr.replaceAll('$job', '.+');

  it('has the essentials Grafana needs to import it', () => {
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = dashboard.templating.list as Doc[];
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const ids = (dashboard.panels as Doc[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(panels.length).toBeGreaterThanOrEqual(8);
    for (const p of panels) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.gridPos, p.title).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      const refs = (p.targets as Doc[]).map((t) => t.refId);
      expect(new Set(refs).size, p.title).toBe(refs.length);
      for (const t of p.targets as Doc[]) expect(t.expr, p.title).toBeTruthy();
    }
  });

  it('shows every metric the operator asked for', () => {
    const used = new Set(queries.flatMap((q) => selectorsOf(q.expr).map((s) => s.name.replace(/_(bucket|sum|count)$/, ''))));
    for (const m of [
      'reshifter_backup_last_success_timestamp_seconds', 'reshifter_backup_last_failure_timestamp_seconds', 'reshifter_backup_total',
      'reshifter_backup_duration_seconds', 'reshifter_backup_size_bytes', 'reshifter_backup_raw_size_bytes', 'reshifter_backup_keys',
      'reshifter_retention_deleted_total', 'reshifter_restore_total', 'reshifter_delta_lag_seconds', 'reshifter_build_info',
    ]) expect(used, m).toContain(m);
  });

  it('queries only metrics and labels a real scrape of `run` has', () => {
    const problems = queries.flatMap((q) => checkAgainstScrape(filled(q.expr), samples, { allowMissing: notYetExported }).map((p) => `${q.panel} ${q.ref}: ${p}`));
    const job = (dashboard.templating.list as Doc[]).find((v) => v.name === 'job')!;
    const metric = /label_values\((\w+),/.exec(job.definition)![1]!;
    if (!samples.some((s) => s.name === metric)) problems.push(`$job reads ${metric}, not in the scrape`);
    expect(problems).toEqual([]);
  });

  it("shows each cluster and strategy setting of a gateway on its own, and no age (not 56 years) before the first backup", () => {
    // Before: `max by (job, instance)` merged every group of a gateway (all have instance=""), and a `run` on an empty
    // store (its last success 0) showed time() - 0.
    const expr = (title: string) => filled(queries.find((q) => q.panel === title)!.expr);
    const atStart = fresh.find((s) => s.name === 'reshifter_backup_last_success_timestamp_seconds');
    expect(atStart?.value).toBe(0);
    const run = '{job="reshifter",instance="node-1:9811"}';
    const group = (cluster: string) => `{job="reshifter",instance="",cluster="${cluster}",backup_strategy="auto"}`;
    const test = {
      interval: '1m',
      input_series: [
        { series: `reshifter_backup_last_success_timestamp_seconds${run}`, values: '0x20' },
        { series: `reshifter_backup_last_failure_timestamp_seconds${run}`, values: '0x20' },
        { series: `reshifter_backup_last_success_timestamp_seconds${group('a')}`, values: '300x20' },
        { series: `reshifter_backup_last_success_timestamp_seconds${group('b')}`, values: '120x20' },
        { series: `reshifter_backup_last_failure_timestamp_seconds${group('b')}`, values: '400x20' },
        { series: `reshifter_backup_last_failure_timestamp_seconds${group('c')}`, values: '500x20' },
      ],
      promql_expr_test: [
        {
          expr: expr('Last successful backup'), eval_time: '10m',
          exp_samples: [{ labels: group('a').replace(',instance=""', ''), value: 300 }, { labels: group('b').replace(',instance=""', ''), value: 480 }],
        },
        {
          expr: expr('Last attempt failed'), eval_time: '10m',
          exp_samples: [
            { labels: run, value: 0 },
            { labels: group('b').replace(',instance=""', ''), value: 1 },
            { labels: group('c').replace(',instance=""', ''), value: 1 },
          ],
        },
      ],
    };
    const res = promtool((dir) => ['test', 'rules', `${dir}/tests.yaml`], { 'rules.yaml': { groups: [] }, 'tests.yaml': { rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [test] } });
    expect(res.output).toContain('SUCCESS');
    expect(res.code).toBe(0);
  });

  it('every query is PromQL that promtool parses', () => {
    const asRules = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: filled(q.expr) }));
    const res = promtool((dir) => ['check', 'rules', `${dir}/queries.yaml`], { 'queries.yaml': { groups: [{ name: 'dashboard', rules: asRules }] } });
    expect(res.output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(res.code).toBe(0);
  });
});

/** The rule groups with annotations left out: `promtool test rules` then compares labels only. */
function withoutAnnotations(groups: Array<{ name: string; rules: Rule[] }>) {
  return groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) }));
}

const JOB = { job: 'reshifter', instance: 'node-1:9811' };
/** One `promtool test rules` input series: a selector with the scrape's labels plus the target's, and its values. */
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries({ ...labels, ...JOB }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`,
  values,
});
/** 6 hours of one value per minute. */
const sixHours = (v: number) => `${v}x359`;

/**
 * Test groups for promtool: each starts from every reshifter series of the real scrape (its metric names and label
 * sets, each at its scraped value) and overrides the few series its story is about. Times are promtool's: the test
 * starts at Unix time 0.
 */
function alertScenarios(scraped: Sample[]) {
  const ours = scraped.filter((s) => s.name.startsWith('reshifter_'));
  const key = (s: Sample) => `${s.name}${JSON.stringify(s.labels)}`;
  const inputs = (overrides: Record<string, string>, opts: { drop?: string[]; extra?: Array<{ series: string; values: string }> } = {}) => [
    ...ours
      .filter((s) => !opts.drop?.includes(s.name))
      .map((s) => {
        const o = overrides[key(s)] ?? overrides[s.name];
        return series(s.name, s.labels, o ?? `${s.value}x1500`);
      }),
    ...(opts.extra ?? []),
  ];
  const id = (name: string, labels: Record<string, string> = {}) => `${name}${JSON.stringify(labels)}`;
  const none = (at: string, ...names: string[]) => names.map((alertname) => ({ eval_time: at, alertname, exp_alerts: [] }));
  const all = [
    'ReshifterBackupMissing', 'ReshifterBackupFailed', 'ReshifterBackupsFailingOften', 'ReshifterRetentionDeletingTooMuch',
    'ReshifterRetentionFailing', 'ReshifterDeltaLagHigh', 'ReshifterMetricsAbsent', 'ReshifterBackupsOfSeveralEtcdClusters',
  ];
  // `run` exports Node's process_* metrics beside its own; a Pushgateway's group of a one-off backup has none.
  const runProcess = (minutes: number) => series('process_start_time_seconds', {}, `0x${minutes}`);
  /** A one-off backup's group on a Pushgateway, as Prometheus scrapes it with honor_labels: instance is "". */
  const pushed = (name: string, values: string) => ({ series: `${name}{job="reshifter",instance="",cluster="prod"}`, values });
  const pushedJob = { job: 'reshifter', cluster: 'prod' }; // an empty label is no label
  const snapshot = (outcome: string) => id('reshifter_backup_total', { strategy: 'snapshot', outcome });
  return [
    {
      name: 'the scrape as it is: its last backup failed, after the last success',
      interval: '1m',
      input_series: inputs({}),
      alert_rule_test: [
        { eval_time: '10m', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        ...none('10m', 'ReshifterRetentionDeletingTooMuch', 'ReshifterRetentionFailing', 'ReshifterDeltaLagHigh', 'ReshifterMetricsAbsent', 'ReshifterBackupsFailingOften'),
      ],
    },
    {
      name: 'a healthy day: a backup every 6 hours, retention deleting one each time',
      interval: '1m',
      input_series: inputs({
        reshifter_backup_last_success_timestamp_seconds: [0, 21600, 43200, 64800].map(sixHours).join(' '),
        reshifter_backup_last_failure_timestamp_seconds: '0x1500',
        [snapshot('success')]: [1, 2, 3, 4].map(sixHours).join(' '),
        [snapshot('failure')]: '1x1500',
        reshifter_retention_deleted_total: [1, 2, 3, 4].map(sixHours).join(' '),
      }),
      alert_rule_test: [...none('5h', ...all), ...none('23h', ...all)],
    },
    {
      name: 'no backup for two periods: missing fires once the age passes 12h and has held for 5m',
      interval: '1m',
      input_series: inputs({ reshifter_backup_last_success_timestamp_seconds: '0x900', reshifter_backup_last_failure_timestamp_seconds: '0x900' }),
      alert_rule_test: [
        ...none('11h', 'ReshifterBackupMissing'),
        ...none('12h3m', 'ReshifterBackupMissing'),
        { eval_time: '12h10m', alertname: 'ReshifterBackupMissing', exp_alerts: [{ exp_labels: { ...JOB, severity: 'critical' } }] },
      ],
    },
    {
      name: 'a failure after a success fires at once, and the next success resolves it',
      interval: '1m',
      input_series: inputs({
        reshifter_backup_last_success_timestamp_seconds: '100x119 7200x200',
        reshifter_backup_last_failure_timestamp_seconds: '0x59 3600x260',
      }),
      alert_rule_test: [
        ...none('30m', 'ReshifterBackupFailed'),
        { eval_time: '1h30m', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        ...none('2h30m', 'ReshifterBackupFailed'),
      ],
    },
    {
      // Before: `run` restarted after a failure reads its last success back from the store but starts with no last
      // failure (0), and the alert resolved with the restart although no backup had succeeded.
      name: "a restart of run after a failure does not resolve failed; the next success does",
      interval: '1m',
      input_series: inputs({
        reshifter_backup_last_success_timestamp_seconds: '100x239 14400x1260',
        reshifter_backup_last_failure_timestamp_seconds: '0x59 3600x59 0x1380',
      }),
      alert_rule_test: [
        { eval_time: '1h30m', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        { eval_time: '3h', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        ...none('4h30m', 'ReshifterBackupFailed'),
      ],
    },
    {
      name: 'failing often: as many snapshot failures as successes in a day fires, one failure in four does not',
      interval: '1m',
      input_series: inputs({
        [snapshot('success')]: '1x1440',
        [snapshot('failure')]: [1, 2, 3, 4].map(sixHours).join(' '),
      }),
      alert_rule_test: [
        { eval_time: '23h', alertname: 'ReshifterBackupsFailingOften', exp_alerts: [{ exp_labels: { ...JOB, strategy: 'snapshot', severity: 'warning' } }] },
      ],
    },
    {
      name: 'one failure among a day of successes is not "often"',
      interval: '1m',
      input_series: inputs({
        [snapshot('success')]: [1, 2, 3, 4].map(sixHours).join(' '),
        [snapshot('failure')]: '1x719 2x720',
      }),
      alert_rule_test: none('23h', 'ReshifterBackupsFailingOften'),
    },
    {
      // Before: never, as each run pushes its own count (1), which increase() does not see grow.
      name: 'pushgateway: runs failing every other time for a day fire failing often; one failure among three successes does not',
      interval: '1m',
      input_series: [
        pushed('reshifter_backup_last_success_timestamp_seconds', '100x719 43300x800'),
        pushed('reshifter_backup_last_failure_timestamp_seconds', '5x359 21700x719 64900x500'),
        // Successes at 0h, 6h and 18h, a failure at 12h.
        { series: 'reshifter_backup_last_success_timestamp_seconds{job="reshifter",instance="",cluster="ok"}', values: '100x359 21700x719 64900x500' },
        { series: 'reshifter_backup_last_failure_timestamp_seconds{job="reshifter",instance="",cluster="ok"}', values: '5x719 43200x800' },
      ],
      alert_rule_test: [
        { eval_time: '23h', alertname: 'ReshifterBackupsFailingOften', exp_alerts: [{ exp_labels: { ...pushedJob, severity: 'warning' } }] },
      ],
    },
    {
      // Before: both jobs pushed into one group per cluster; the filter job's hourly success replaced the snapshot
      // job's failure, and nothing fired.
      name: "pushgateway: two jobs of one cluster: the nightly snapshot job's failure fires although the hourly filter job succeeds",
      interval: '1m',
      input_series: [
        { series: 'reshifter_backup_last_success_timestamp_seconds{job="reshifter",instance="",cluster="prod",backup_strategy="filter:secrets"}', values: '60+60x1500' },
        { series: 'reshifter_backup_last_failure_timestamp_seconds{job="reshifter",instance="",cluster="prod",backup_strategy="snapshot"}', values: '_x59 3600x1440' },
        { series: 'reshifter_backup_last_success_timestamp_seconds{job="reshifter",instance="",cluster="prod",backup_strategy="snapshot"}', values: '0x1500' },
      ],
      alert_rule_test: [
        ...none('30m', 'ReshifterBackupFailed'),
        { eval_time: '2h', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...pushedJob, backup_strategy: 'snapshot', severity: 'warning' } }] },
      ],
    },
    {
      name: 'retention deleting 8 backups within an hour fires; one an hour does not',
      interval: '1m',
      input_series: inputs({ reshifter_retention_deleted_total: '0x59 1x59 2x59 10x300' }),
      alert_rule_test: [
        ...none('2h50m', 'ReshifterRetentionDeletingTooMuch'),
        { eval_time: '3h30m', alertname: 'ReshifterRetentionDeletingTooMuch', exp_alerts: [{ exp_labels: { ...JOB, severity: 'critical' } }] },
      ],
    },
    {
      name: 'run: one retention failure fires at once and resolves a day later; failing every run keeps it firing',
      interval: '1m',
      input_series: inputs(
        { reshifter_retention_failures_total: '0x59 1x1700' },
        { extra: [runProcess(1760), series('reshifter_retention_failures_total', { cluster: 'b' }, [0, 1, 2, 3, 4, 5, 6].map(sixHours).join(' '))] },
      ),
      alert_rule_test: [
        ...none('50m', 'ReshifterRetentionFailing'),
        { eval_time: '1h5m', alertname: 'ReshifterRetentionFailing', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        {
          eval_time: '24h50m',
          alertname: 'ReshifterRetentionFailing',
          exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }, { exp_labels: { ...JOB, cluster: 'b', severity: 'warning' } }],
        },
        { eval_time: '26h', alertname: 'ReshifterRetentionFailing', exp_alerts: [{ exp_labels: { ...JOB, cluster: 'b', severity: 'warning' } }] },
      ],
    },
    {
      name: "pushgateway: fires while the last one-off backup's retention failed, for days if it keeps failing; the next run whose retention works resolves it",
      interval: '1m',
      input_series: [pushed('reshifter_retention_failures_total', '0x59 1x2879 0x60')],
      alert_rule_test: [
        ...none('50m', 'ReshifterRetentionFailing'),
        { eval_time: '1h5m', alertname: 'ReshifterRetentionFailing', exp_alerts: [{ exp_labels: { ...pushedJob, severity: 'warning' } }] },
        { eval_time: '47h', alertname: 'ReshifterRetentionFailing', exp_alerts: [{ exp_labels: { ...pushedJob, severity: 'warning' } }] },
        ...none('49h30m', 'ReshifterRetentionFailing'),
      ],
    },
    {
      name: "run: a backup of another etcd cluster kept beside the intended one's fires; deleting the other's resolves it",
      interval: '1m',
      input_series: inputs({ reshifter_backup_etcd_clusters: '1x59 2x120 1x60' }),
      alert_rule_test: [
        ...none('50m', 'ReshifterBackupsOfSeveralEtcdClusters'),
        { eval_time: '1h5m', alertname: 'ReshifterBackupsOfSeveralEtcdClusters', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
        ...none('3h30m', 'ReshifterBackupsOfSeveralEtcdClusters'),
      ],
    },
    {
      // Each push replaces the group: the change's counter is 1 for the first backup of the other cluster only.
      name: "pushgateway: still fires a day after the other cluster's first backup, when the change counter is back to 0",
      interval: '1m',
      input_series: [pushed('reshifter_backup_etcd_clusters', '1x59 2x1500'), pushed('reshifter_backup_etcd_cluster_changes_total', '0x59 1x359 0x1140')],
      alert_rule_test: [
        ...none('50m', 'ReshifterBackupsOfSeveralEtcdClusters'),
        { eval_time: '1d', alertname: 'ReshifterBackupsOfSeveralEtcdClusters', exp_alerts: [{ exp_labels: { ...pushedJob, severity: 'warning' } }] },
      ],
    },
    {
      name: 'delta lag: absent today (no alert); once exported, 10 minutes above 5 minutes fires',
      interval: '1m',
      input_series: inputs({}, { extra: [series('reshifter_delta_lag_seconds', {}, '10x30 600x60')] }),
      alert_rule_test: [
        ...none('35m', 'ReshifterDeltaLagHigh'),
        { eval_time: '45m', alertname: 'ReshifterDeltaLagHigh', exp_alerts: [{ exp_labels: { ...JOB, severity: 'warning' } }] },
      ],
    },
    {
      name: 'no reshifter metrics for 30 minutes fires the absent alert',
      interval: '1m',
      input_series: inputs({}, { drop: ['reshifter_build_info'] }),
      alert_rule_test: [
        ...none('20m', 'ReshifterMetricsAbsent'),
        { eval_time: '40m', alertname: 'ReshifterMetricsAbsent', exp_alerts: [{ exp_labels: { severity: 'warning' } }] },
      ],
    },
  ];
}

/** A promtool input series with a sample's own labels (an empty one is no label) and `target`'s, its values given. */
const asIs = (s: Sample, values: string, target: Record<string, string> = {}) => ({
  series: `${s.name}{${Object.entries({ ...s.labels, ...target }).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`,
  values,
});

/**
 * Before any backup succeeded, from real pages. Both start at 13h of promtool's clock (Unix time 46800), later than
 * two periods after Unix time 0, the "last success" of a store that holds none.
 */
function firstBackupScenarios(fresh: Sample[], pushed: Sample[]) {
  const START = 46_800;
  const from13h = (v: number) => `_x779 ${v}x900`;
  const none = (at: string, ...names: string[]) => names.map((alertname) => ({ eval_time: at, alertname, exp_alerts: [] }));
  const ours = fresh.filter((s) => s.name.startsWith('reshifter_') || s.name === 'process_start_time_seconds');
  expect(ours.find((s) => s.name === 'reshifter_backup_last_success_timestamp_seconds')?.value).toBe(0);
  expect(ours.some((s) => s.name === 'process_start_time_seconds')).toBe(true);
  // The gateway holds no last success at all: the run that would have pushed one never came.
  expect(pushed.some((s) => s.name === 'reshifter_backup_last_success_timestamp_seconds')).toBe(false);
  const failedAt = pushed.find((s) => s.name === 'reshifter_backup_last_failure_timestamp_seconds');
  expect(failedAt?.labels).toMatchObject({ job: 'reshifter', cluster: 'prod', backup_strategy: 'auto' });
  // Its group: the cluster and RS_BACKUP_STRATEGY as set (unset: auto).
  const gatewayJob = { job: 'reshifter', cluster: 'prod', backup_strategy: 'auto' };
  return [
    {
      // Before: the last success 0 read as a backup 13 hours old, a critical page 5 minutes after the start with
      // /healthz saying that no backup is due yet.
      name: 'run with no backup in the store (a fresh install, a restart while the store could not be listed): silent until two periods after the start',
      interval: '1m',
      input_series: ours.map((s) => asIs(s, from13h(s.name === 'process_start_time_seconds' ? START : s.value), JOB)),
      alert_rule_test: [
        ...none('13h10m', 'ReshifterBackupMissing', 'ReshifterBackupFailed'),
        ...none('24h50m', 'ReshifterBackupMissing', 'ReshifterBackupFailed'),
        { eval_time: '25h10m', alertname: 'ReshifterBackupMissing', exp_alerts: [{ exp_labels: { ...JOB, severity: 'critical' } }] },
      ],
    },
    {
      // Before: neither alert fired, for this run or any failing one after it (no last success to compare with).
      name: 'pushgateway: the first one-off backup ever fails: failed fires at once, missing (there is no backup at all) 5 minutes later',
      interval: '1m',
      input_series: pushed.map((s) => asIs(s, from13h(s === failedAt ? START : s.value))),
      alert_rule_test: [
        ...none('12h50m', 'ReshifterBackupFailed', 'ReshifterBackupMissing'),
        { eval_time: '13h2m', alertname: 'ReshifterBackupFailed', exp_alerts: [{ exp_labels: { ...gatewayJob, severity: 'warning' } }] },
        ...none('13h2m', 'ReshifterBackupMissing'),
        { eval_time: '13h10m', alertname: 'ReshifterBackupMissing', exp_alerts: [{ exp_labels: { ...gatewayJob, severity: 'critical' } }] },
      ],
    },
  ];
}
