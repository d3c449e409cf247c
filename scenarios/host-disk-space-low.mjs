// HostDiskSpaceLow: a Docker volume grows until the host's root filesystem has less than 10% free.
import { spawnSync } from 'node:child_process';

const VOLUME = 'lab-disk-fill';
const IMAGE = 'observability-lab/product:local';
/** Free space left on / once filled: under the alert's 10%, far from a full disk. */
const LEAVE_FREE = 0.07;

function docker(args) {
  const result = spawnSync('docker', args, { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `docker ${args.slice(0, 3).join(' ')} … failed: ${(result.stderr || result.error?.message || '').trim()}`,
    );
  return result.stdout.trim();
}

const ROOT_FS = 'node_filesystem_avail_bytes{mountpoint="/"}';

export default {
  name: 'host-disk-space-low',
  title: 'The disk fills up',
  summary:
    "A Docker volume takes the host's disk down to 7% free: nothing fails yet, but Elasticsearch, Prometheus and MongoDB are about to stop writing; the learner finds which filesystem, and what fills it, before they do.",
  touches: ['gateway', 'oauth', 'customer', 'product', 'order'],
  requires: ['compose', 'node-exporter'],
  traffic: [{ name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 }],
  steadyState: {
    queries: [
      {
        expr: 'min(node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"})',
        above: 0.15,
      },
    ],
  },
  inject: {
    async run(ctx) {
      const value = async (expr) => Number((await ctx.prometheus.query(expr))[0]?.value?.[1]);
      const avail = await value(`max(${ROOT_FS})`);
      const size = await value('max(node_filesystem_size_bytes{mountpoint="/"})');
      if (!(avail > 0 && size > 0)) throw new Error('node-exporter reports no filesystem mounted on /');
      const bytes = Math.floor(avail - LEAVE_FREE * size);
      docker(['volume', 'create', VOLUME]);
      // fallocate reserves the blocks at once (util-linux is in the lab's Debian-based image).
      docker([
        'run',
        '--rm',
        '--entrypoint',
        'fallocate',
        '-v',
        `${VOLUME}:/fill`,
        IMAGE,
        '-l',
        String(bytes),
        '/fill/ballast',
      ]);
      ctx.log(
        `${VOLUME}: ${(bytes / 1024 ** 3).toFixed(1)} GiB reserved (docker volume rm ${VOLUME} frees them)`,
      );
    },
    async undo(ctx) {
      docker(['volume', 'rm', '-f', VOLUME]);
      ctx.log(`${VOLUME} removed`);
    },
  },
  alert: { name: 'HostDiskSpaceLow', labels: { mountpoint: '/' }, within: '7m' },
  runbook: [
    {
      expr: 'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"} < 0.10',
      culprit: { mountpoint: '/' },
      match: 'any',
    },
  ],
  symptom: false,
  recovery: { within: '2m' },
  docs: {
    inject: `Reserve most of the free space of the Docker host's root filesystem in a volume (leave about 7%;
\`df -h /\` on Linux, the Docker Desktop VM's disk elsewhere):

\`\`\`sh
docker volume create lab-disk-fill
docker run --rm --entrypoint fallocate -v lab-disk-fill:/fill observability-lab/product:local -l 40G /fill/ballast
\`\`\`

(\`npm run scenario -- host-disk-space-low\` computes the size from node-exporter's figures.)`,
    sees: `Nothing yet: every service answers as before. What changes is the margin: at 95% full
Elasticsearch's disk watermarks make it refuse new indices (logs pile up in Fluentd's buffer, then are
dropped), Prometheus and MongoDB fail their writes when it is full.`,
    alerts: `\`HostDiskSpaceLow\` (mountpoint \`/\`, less than 10% free for 5 minutes) after 5–5.5 minutes.`,
    find: `- Grafana → _Host_: _Filesystem used_ of \`/\` jumps in one step: not a slow leak (logs, indices) but one
  big write; \`predict_linear\` over it would have said "full in hours" for a slow one.
- Prometheus: \`node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"} < 0.10\`
  names the filesystem.
- \`docker system df -v\`: the volume \`lab-disk-fill\` on top of _Local Volumes space usage_; \`df -h\` on the
  host.`,
    undo: `\`docker volume rm lab-disk-fill\`. The space is free at once; the alert resolves at the next evaluation.`,
  },
};
