// AlertNotificationsFailing: the alert-webhook hangs, so Alertmanager's notifications to it fail.
export default {
  name: 'alert-webhook-paused',
  title: 'Alerts that reach nobody',
  summary:
    "The alert-webhook (Alertmanager's receiver) hangs: alerts still fire, but their notifications time out; the alert saying so cannot reach it either, and the learner checks the monitoring's own delivery path.",
  touches: ['alert-webhook'],
  traffic: [{ name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 }],
  steadyState: { quiet: ['AlertNotificationsFailing'] },
  inject: { pause: 'alert-webhook' },
  alert: { name: 'AlertNotificationsFailing', labels: { integration: 'webhook' }, within: '12m' },
  // The receiver is what is broken: the runner finds the alert in Alertmanager, not at the webhook.
  notify: 'alertmanager',
  alsoFires: [{ name: 'MonitoringTargetDown', labels: { job: 'alert-webhook' } }],
  runbook: [
    {
      expr: 'sum by (integration) (rate(alertmanager_notifications_failed_total[5m]))',
      culprit: { integration: 'webhook' },
    },
  ],
  symptom: false,
  recovery: { within: '8m' },
  docs: {
    inject: `\`docker compose pause alert-webhook\` (without Docker: \`kill -STOP\` of the alert-webhook process;
\`npm run scenario -- alert-webhook-paused\` does it).`,
    sees: `Nothing: the services are fine. But the alert-webhook accepts connections and never answers, so every
notification Alertmanager sends it waits for its timeout and fails, and alerts stop reaching Kibana
(saved search _Alerts_).`,
    alerts: `\`MonitoringTargetDown\` (job alert-webhook) after 2–2.5 minutes; Alertmanager tries to deliver it, to the
hung webhook, and fails once its timeout is over. \`AlertNotificationsFailing\` (integration webhook, failures
over 5 minutes, \`for: 5m\`) follows, about 10 minutes after the freeze in all. Neither reaches the webhook: they are in Prometheus' and Alertmanager's
UIs only. A second receiver for the monitoring's own alerts (email, another webhook) is how a real setup
hears about them.`,
    find: `- Alertmanager (http://localhost:9093): the alerts are there, active; its log says why they were not
  delivered: \`docker compose logs alertmanager | grep -i notify\` (\`context deadline exceeded\`).
- Prometheus: \`sum by (integration) (rate(alertmanager_notifications_failed_total[5m]))\` names the
  integration; Status → Targets shows \`alert-webhook\` down with \`context deadline exceeded\` (hung, not
  stopped).
- Kibana → saved search _Alerts_: nothing new since the moment it froze, while Prometheus' \`/alerts\`
  page shows alerts firing.`,
    undo: `\`docker compose unpause alert-webhook\`. Alertmanager's next attempts succeed (the alerts that waited
arrive, late); the failure rate falls to 0 and the alert resolves once the 5-minute window has no failure.`,
  },
};
