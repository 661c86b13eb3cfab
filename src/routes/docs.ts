import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod'

const ZOD_TO_JSON = { target: 'draft-2020-12' as const }

export const OPENAPI_INFO = {
  title: 'qlik-broker',
  description: 'Qlik Cloud\'s REST API behind a region prefix. Callers authenticate with a broker credential (`Authorization: Bearer …`) and never see a Qlik secret or token. Point @qlik/api at `<broker>/regions/<region>` with `authType: "apikey"`.',
  version: '0.1.0'
}

/** OpenAPI 3.1 from the routes' zod schemas, at /openapi.json, and Swagger UI at /docs. */
async function docsPlugin (app: FastifyInstance, options: { ui: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      components: {
        securitySchemes: {
          brokerCredential: { type: 'http', scheme: 'bearer', description: 'A broker API key (qbk_…).' }
        }
      }
    },
    transform: createJsonSchemaTransform({ zodToJsonConfig: ZOD_TO_JSON, skipList: ['/openapi.json', '/docs', '/docs/*'] }),
    transformObject: createJsonSchemaTransformObject({ zodToJsonConfig: ZOD_TO_JSON })
  })
  app.get('/openapi.json', { schema: { hide: true }, logLevel: 'warn' }, async () => app.swagger())
  if (options.ui) await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true, tryItOutEnabled: true } })
}

export const docs = fp(docsPlugin, { name: 'qlik-broker-docs', fastify: '5.x' })
