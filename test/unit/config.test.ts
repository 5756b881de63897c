import { describe, expect, it } from 'vitest';
import { readConfig } from '../../functions/config.ts';

describe('configuration from the environment', () => {
  it('defaults to the embedded store on 127.0.0.1:8080 in ./.tributary', () => {
    expect(readConfig({})).toMatchObject({
      store: 'embedded',
      dataDir: './.tributary',
      host: '127.0.0.1',
      port: 8080,
    });
  });

  it('reads the AWS store settings', () => {
    expect(
      readConfig({
        TRIBUTARY_STORE: 'aws',
        TRIBUTARY_TABLE: 't',
        TRIBUTARY_BUCKET: 'b',
        PORT: '9000',
      }),
    ).toMatchObject({ store: 'aws', tableName: 't', bucketName: 'b', port: 9000 });
  });

  it('reads the maintenance state machine the API starts, when there is one', () => {
    const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:TributaryMaintenance-x1Y2';
    expect(readConfig({ TRIBUTARY_STATE_MACHINE_ARN: arn }).stateMachineArn).toBe(arn);
    expect(readConfig({}).stateMachineArn).toBeUndefined();
  });

  it.each([
    { TRIBUTARY_STATE_MACHINE_ARN: 'TributaryMaintenance' },
    { TRIBUTARY_STATE_MACHINE_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:f' },
    { TRIBUTARY_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:execution:m:e' },
    { TRIBUTARY_STORE: 'dynamo' },
    { PORT: 'eighty' },
    { PORT: '70000' },
    { TRIBUTARY_CACHE_MB: '-1' },
    { TRIBUTARY_STORE: 'aws', TRIBUTARY_BUCKET: 'b' },
    { TRIBUTARY_STORE: 'aws', TRIBUTARY_TABLE: 't' },
    { TRIBUTARY_AUTH: 'on' },
    { TRIBUTARY_AUTH: 'on', TRIBUTARY_ADMIN_KEY: 'short' },
    {
      TRIBUTARY_ADMIN_KEY: 'k'.repeat(20),
      TRIBUTARY_ADMIN_KEY_SECRET_ARN: 'arn:aws:secretsmanager:x',
    },
    { TRIBUTARY_CORS_ORIGINS: 'https://app.example.com/' },
    { TRIBUTARY_CORS_ORIGINS: 'app.example.com' },
    { TRIBUTARY_LOG_LEVEL: 'LOUD' },
  ])('fails loudly at start on %j', (env) => {
    expect(() => readConfig(env)).toThrow(/must|needs|not both|takes/);
  });

  it('reads CORS origins and the log level, leaving the CORS default to the entry point', () => {
    expect(readConfig({})).toMatchObject({ corsOrigins: undefined, logLevel: 'INFO' });
    expect(
      readConfig({
        TRIBUTARY_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
        TRIBUTARY_LOG_LEVEL: 'warn',
      }),
    ).toMatchObject({
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      logLevel: 'WARN',
    });
    expect(readConfig({ TRIBUTARY_CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });
});
