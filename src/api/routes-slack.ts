// POST /api/v1/slack/interactions: Slack's interactivity Request URL. Slack signs the form body byte for byte, so
// this route alone keeps the raw body (its own content-type parser, in its own encapsulated context).
import type { FastifyInstance } from 'fastify';
import type { Access } from '../access/access.js';
import type { Log } from '../domain/log.js';
import { AirlockError } from '../domain/errors.js';
import { resolveSecret } from '../credentials/secret-ref.js';
import { makeSlackInteractions } from '../notify/slack-interactions.js';
import { sendProblem } from './problem.js';

export async function registerSlackRoutes(app: FastifyInstance, deps: { access: Access; log: Pick<Log, 'warn'>; bodyLimit: number }): Promise<void> {
  const { access } = deps;
  const interactions = makeSlackInteractions({
    slack: () => access.policy().doc.notify.slack,
    resolveSecret: (ref) => resolveSecret(ref),
    policy: access.policy,
    clock: access.clock,
    audit: access.audit,
    log: deps.log,
    decisions: {
      approveRequest: (caller, id) => access.reviews.approve(caller, id),
      denyRequest: (caller, id, comment) => access.reviews.deny(caller, id, comment),
      approveStatement: (caller, id) => access.statementReviews.approve(caller, id),
      denyStatement: (caller, id, comment) => access.statementReviews.deny(caller, id, comment),
    },
  });
  await app.register(async function slackInteractions(scope) {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));
    scope.post('/api/v1/slack/interactions', {
      schema: {
        summary: "Slack's interactivity requests (Approve / Deny buttons, the Deny form), signed with the app's signing secret",
        tags: ['notify'],
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        response: {
          200: { description: 'Acknowledged: empty, or a view_submission answer ({"response_action":"errors",…})', content: { 'application/json': { schema: { type: 'object' } }, 'text/plain': { schema: { type: 'string' } } } },
          default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } },
        },
      },
    }, async function slackInteraction(req, reply) {
      try {
        if (typeof req.body !== 'string') throw new AirlockError('AIRLOCK_BAD_INPUT', 'Send the body as application/x-www-form-urlencoded, as Slack does.');
        const answer = await interactions.handle(req.headers, req.body);
        if (answer.json === undefined) return reply.code(answer.status).type('text/plain; charset=utf-8').send('');
        return reply.code(answer.status).type('application/json; charset=utf-8').send(JSON.stringify(answer.json));
      } catch (e) {
        return sendProblem(reply, e, req);
      }
    });
  });
}
