/**
 * The secret rule tables, as data (modelled on gitleaks: id, keywords for a prefilter, an anchored
 * pattern, validators, and test vectors that the suite runs for every row).
 *
 * - FORMAT_RULES recognise a credential by its own shape (prefix, signature, checksum-like structure).
 * - CONTEXT_RULES recognise a credential by where it sits: the name of the field / header / query
 *   parameter / connection-string part that holds it. The engine finds `name <sep> value` pairs in
 *   text (JSON, escaped JSON inside strings, form bodies, headers, connection strings) and in parsed
 *   trees (scanValue), then asks these rows.
 *
 * Formats are written here from public documentation and MIT-licensed scanners
 * (microsoft/security-utilities, gitleaks); each row cites its source.
 */
import type { Severity } from '../finding';
import {
  enclosingUrl,
  entropyAtLeast,
  insideContentLinkObject,
  isBasicCredential,
  isPlaceholder,
  isPrintableText,
  shannonEntropy,
  isRunContentLinkUrl,
  isSignature32,
  isSignedJwt,
  userinfoAtFollows,
  looksLikeCode,
  looksLikeFileName,
  minLength,
  notDocumentedKey,
  notPlaceholder,
  validator,
  type Validator,
} from './validators';

export type Confidence = 'high' | 'medium';

export interface RuleVectors {
  /** Texts in which this rule must report a secret. */
  match: string[];
  /** Texts in which this rule must not report anything. */
  noMatch: string[];
}

export interface FormatRule {
  id: string;
  description: string;
  severity: Severity;
  confidence: Confidence;
  /**
   * Prefilter: at least one must appear near a match before the regex runs. Case-insensitive, except
   * a keyword with upper-case letters in a rule whose pattern is case-sensitive: it must appear
   * exactly as written (write it as the pattern spells it; rare upper-case anchors scan fastest).
   */
  keywords: string[];
  /** Global regex. With `secretGroup`, compiled with the `d` flag so group offsets are known. */
  pattern: RegExp;
  /** Capture group(s) holding the secret (first that participated); default: the whole match. */
  secretGroup?: number | number[];
  validators: Validator[];
  /** Upper bound of a match length: the engine scans this far around each keyword hit. */
  maxLength: number;
  /** Tighter scan window when the keyword sits at a known place in the match (default ±maxLength). */
  window?: { before: number; after: number };
  /**
   * Cheap necessary condition at one keyword hit (`at` = where the keyword's atom starts): false means
   * no match can start from this hit, so its scan window is not opened. Only for patterns whose match
   * begins at the keyword.
   */
  atHit?: (text: string, at: number) => boolean;
  /** Higher wins when matches overlap (identifiable formats beat generic shapes). */
  priority: number;
  /** Where the format comes from. */
  source: string;
  vectors: RuleVectors;
}

/** Name categories for context rules: how the engine interprets a field's value. */
export type ValueShape = 'plain' | 'authorization' | 'signature';

export interface ContextRule {
  id: string;
  description: string;
  severity: Severity;
  confidence: Confidence;
  /** Tested against the normalised field name (lower case, only a-z0-9). */
  names: RegExp;
  /** Normalised names that look sensitive but hold metadata (ids, names, types, flags, paging cursors). */
  excludeNames?: RegExp;
  /** Only when the field is a URL query parameter (`?name=` / `&name=`). */
  queryOnly?: boolean;
  shape: ValueShape;
  validators: Validator[];
  priority: number;
  source: string;
  vectors: RuleVectors;
}

// ------------------------------------------------------------------ helpers for rows

const SU = 'microsoft/security-utilities (MIT), GeneratedRegexPatterns / identifiable_scans.rs';
const GL = 'gitleaks (MIT), cmd/generate/config/rules';

/** A random tail: at least `bits` of Shannon entropy per char (rejects `aaaa…` only where no signature vouches). */
const randomish = entropyAtLeast(3.0);


// Identifiable Azure keys (HIS v1): base64 body, a fixed 4-char signature at a fixed offset, then a checksum.
function his1(id: string, description: string, bodyLen: number, sig: string, tail: string, maxLen: number, source: string, vector: string): FormatRule {
  const sigRe = sig.replace(/[+]/g, '\\+');
  return {
    id,
    description,
    severity: 'critical',
    confidence: 'high',
    keywords: [sig],
    pattern: new RegExp(`(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{${bodyLen}}${sigRe}${tail}`, 'g'),
    validators: [notDocumentedKey],
    maxLength: maxLen,
    priority: 90,
    source,
    vectors: {
      match: [vector, `{"key":"${vector}"}`],
      noMatch: [vector.replace(sig, sig.toLowerCase() === sig ? sig.toUpperCase() : sig.toLowerCase()), 'x'.repeat(bodyLen) + ' ' + sig],
    },
  };
}

const B64 = '[A-Za-z0-9+/_-]';
const TAIL_32 = `[A-P]${B64}{5}=?(?![A-Za-z0-9+/_-])`;
const TAIL_39 = `[A-D]${B64}{5}(?![A-Za-z0-9+/_-])`;
const TAIL_40 = `${B64}{5}[AQgw](?:==)?(?![A-Za-z0-9+/_-])`;
const TAIL_64 = `${B64}{5}[AQgw](?:==)?(?![A-Za-z0-9+/_-])`;

/** Path of a Logic Apps / Power Automate request trigger URL. */
const TRIGGER_PATH = /\/triggers\/|\/paths\/invoke/i;

// ------------------------------------------------------------------ format rules

export const FORMAT_RULES: FormatRule[] = [
  // ---- Azure identifiable keys (signature + fixed layout)
  his1('secret.azure-storage-key', 'Azure Storage account access key (identifiable format, signature +ASt)', 76, '+ASt', TAIL_64, 90, `${SU}: SEC101/152 AzureStorageAccountIdentifiableKey`, 'a'.repeat(76) + '+ASt5mnCaw=='),
  his1('secret.azure-cosmosdb-key', 'Azure Cosmos DB account key (identifiable format, signature ACDb)', 76, 'ACDb', TAIL_64, 90, `${SU}: SEC101/160 AzureCosmosDBIdentifiableKey`, 'a'.repeat(76) + 'ACDbOpqrYA=='),
  his1('secret.azure-batch-key', 'Azure Batch account key (identifiable format, signature +ABa)', 76, '+ABa', TAIL_64, 90, `${SU}: SEC101/163 AzureBatchIdentifiableKey`, 'a'.repeat(76) + '+ABa13FZVQ=='),
  his1('secret.azure-ml-key', 'Azure Machine Learning (classic) web service key (identifiable format, signature +AMC)', 76, '+AMC', TAIL_64, 90, `${SU}: SEC101/170 AzureMLWebServiceClassicIdentifiableKey`, 'a'.repeat(76) + '+AMCFNqWyA=='),
  his1('secret.azure-apim-key', 'Azure API Management key (identifiable format, signature APIM)', 76, 'APIM', TAIL_64, 90, `${SU}: SEC101/181 AzureApimIdentifiableDirectManagementKey`, 'a'.repeat(76) + 'APIMHbKhsQ=='),
  his1('secret.azure-functions-key', 'Azure Functions key (identifiable format, signature AzFu)', 44, 'AzFu', TAIL_40, 60, `${SU}: SEC101/158 AzureFunctionIdentifiableKey`, 'd'.repeat(44) + 'AzFu182vhA=='),
  his1('secret.azure-search-key', 'Azure AI Search admin/query key (identifiable format, signature AzSe)', 42, 'AzSe', TAIL_39, 56, `${SU}: SEC101/166 AzureSearchIdentifiableQueryKey`, 'a'.repeat(42) + 'AzSeCjhzCu'),
  his1('secret.azure-container-registry-key', 'Azure Container Registry access key (identifiable format, signature +ACR)', 42, '+ACR', TAIL_39, 56, `${SU}: SEC101/176 AzureContainerRegistryIdentifiableKey`, 'd'.repeat(42) + '+ACRCUDxQE'),
  his1('secret.azure-relay-key', 'Azure Relay shared access key (identifiable format, signature +ARm)', 33, '+ARm', TAIL_32, 48, `${SU}: SEC101/173 AzureRelayIdentifiableKey`, 'a'.repeat(33) + '+ARmD7h+qo='),
  his1('secret.azure-event-hubs-key', 'Azure Event Hubs shared access key (identifiable format, signature +AEh)', 33, '+AEh', TAIL_32, 48, `${SU}: SEC101/172 AzureEventHubIdentifiableKey`, 'a'.repeat(33) + '+AEhG2s/8w='),
  his1('secret.azure-service-bus-key', 'Azure Service Bus shared access key (identifiable format, signature +ASb)', 33, '+ASb', TAIL_32, 48, `${SU}: SEC101/171 AzureServiceBusIdentifiableKey`, 'a'.repeat(33) + '+ASbHpHeAI='),
  his1('secret.azure-iot-key', 'Azure IoT Hub / Device Provisioning shared access key (identifiable format, signature AIoT)', 33, 'AIoT', TAIL_32, 48, `${SU}: SEC101/178 AzureIotHubIdentifiableKey`, 'a'.repeat(33) + 'AIoTOumzco='),
  his1('secret.azure-redis-key', 'Azure Cache for Redis access key (identifiable format, signature AzCa)', 33, 'AzCa', TAIL_32, 48, `${SU}: SEC101/154 AzureCacheForRedisIdentifiableKey`, 'a'.repeat(33) + 'AzCaOumzco='),
  his1('secret.azure-event-grid-key', 'Azure Event Grid access key (identifiable format, signature AZEG)', 33, 'AZEG', TAIL_32, 48, `${SU}: SEC101/190 AzureEventGridIdentifiableKey`, 'b'.repeat(33) + 'AZEGLiQbng='),
  {
    id: 'secret.azure-common-annotated-key',
    description: 'Azure common annotated security key (HIS v2, "JQQJ" signature): Cognitive Services, Azure DevOps PATs, App Configuration, Functions and other newer Azure keys',
    severity: 'critical',
    confidence: 'high',
    keywords: ['JQQJ'],
    pattern: /(?<![A-Za-z0-9])[A-Za-z0-9]{52}JQQJ[0-9A-Z]{2}[A-Za-z0-9][A-L][A-Za-z0-9]{16}[A-Za-z][A-Za-z0-9]{7}(?:[A-Za-z0-9]{2}==)?(?![A-Za-z0-9])/g,
    validators: [],
    maxLength: 90,
    priority: 95,
    source: `${SU}: SEC101/200 UnclassifiedLegacyCommonAnnotatedSecurityKey (version chars generalised)`,
    vectors: {
      match: [
        'G'.repeat(52) + 'JQQJ99AEAAAAAAAAAAAAAAAAAZFUt60j8g==',
        'FBdFol081crwkIHWJH2yiqDDyrFjVSi7HWl22hN2hTYfsB8NlGDpJQQJ77BAACAAAAAAAAAAAAASAZDOBucT',
      ],
      noMatch: ['G'.repeat(52) + 'JQQJ99AEAAAAAA', 'JQQJ99 is a signature'],
    },
  },
  {
    id: 'secret.entra-client-secret',
    description: 'Microsoft Entra ID application client secret (identifiable "Q~" format)',
    severity: 'critical',
    confidence: 'high',
    // The digit is part of the format and gives the prefilter a 3-character keyword (the minimum).
    keywords: ['0Q~', '1Q~', '2Q~', '3Q~', '4Q~', '5Q~', '6Q~', '7Q~', '8Q~', '9Q~'],
    pattern: /(?<![A-Za-z0-9_~.+/-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.+/=-])/g,
    validators: [notPlaceholder],
    maxLength: 48,
    priority: 90,
    source: `${SU}: SEC101/156 AadClientAppIdentifiableCredentials; ${GL}/azure.go (length 31-34)`,
    vectors: {
      match: ['zzz8Q~zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz', 'secret: QtT8Q~9C-_Ij~RouHVpD2Tuf3oHWGh.DQ3kcjbAn)', 'xxx7Q~dead.dead.DEAD-DEAD-dead~deadxx'],
      noMatch: ['bP88Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'USK@u2vn,4~q8Q~3wIHjX9DT0yCNfQmr9oxmYrDZoQVLOdNg~yk0,AQACAAE'],
    },
  },
  // ---- Azure connection strings (key parts)
  {
    id: 'secret.azure-storage-connection-string',
    description: 'AccountKey in an Azure Storage / Cosmos DB connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['accountkey'],
    pattern: /(?<![A-Za-z0-9])AccountKey\s*=\s*([A-Za-z0-9+/]{40,}={0,2})(?![A-Za-z0-9+/=])/dgi,
    secretGroup: 1,
    validators: [notDocumentedKey, notPlaceholder, randomish],
    maxLength: 200,
    window: { before: 16, after: 200 },
    priority: 60,
    source: 'Azure Storage connection string format (learn.microsoft.com/azure/storage/common/storage-configure-connection-string); gitleaks azure-storage rule',
    vectors: {
      match: ['DefaultEndpointsProtocol=https;AccountName=storagetest123;AccountKey=pU3KGCUwux1tEyze1iN7LtkeP3IfyxlxF0SU1kk8nVw0YL4xIB5p/tqg7ui5mX9cfCmZ/a/lkyU81lSvTfrXFA==;EndpointSuffix=core.windows.net'],
      noMatch: [
        'AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;',
        'AccountName=X;AccountKey=X;',
        'AccountName=mylogstorage;AccountKey=storageaccountkeybase64encoded;EndpointSuffix=core.windows.net',
      ],
    },
  },
  {
    id: 'secret.azure-sas-policy-key',
    description: 'SharedAccessKey in a Service Bus / Event Hubs / Relay / IoT Hub / Notification Hubs connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['sharedaccesskey='],
    pattern: /(?<![A-Za-z0-9])SharedAccessKey\s*=\s*([A-Za-z0-9+/]{40,}={0,2})(?![A-Za-z0-9+/=])/dgi,
    secretGroup: 1,
    validators: [notPlaceholder, randomish],
    maxLength: 120,
    window: { before: 20, after: 120 },
    priority: 60,
    source: 'Service Bus / Event Hubs connection string format (learn.microsoft.com/azure/service-bus-messaging/service-bus-authentication-and-authorization)',
    vectors: {
      match: ['Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0S2V5Rm9yVGVzdGluZ09ubHlfOTg3NjU0MzIxMA=='],
      noMatch: ['SharedAccessKeyName=[Shared Access Key Name goes here];SharedAccessKey=[Shared Access key goes here];', 'SharedAccessKey=############################################'],
    },
  },
  {
    id: 'secret.azure-communication-services-key',
    description: 'Access key in an Azure Communication Services connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['accesskey='],
    pattern: /endpoint=https:\/\/[A-Za-z0-9.-]+\.communication\.azure\.(?:com|net)\/?;\s*accesskey=([A-Za-z0-9+/]{40,}={0,2})/dgi,
    secretGroup: 1,
    validators: [notPlaceholder, randomish],
    maxLength: 300,
    window: { before: 200, after: 200 },
    priority: 70,
    source: 'Azure Communication Services connection string (learn.microsoft.com/azure/communication-services/quickstarts/create-communication-resource)',
    vectors: {
      match: ['endpoint=https://resource3.int.communication.azure.net/;accesskey=ot8jPBj4/+uWeh0mLH88/RpTz46gcCZf879nTZ+UH2GsYWHVfX75i78sYxL3aAdVpv+jkd/kcpYs15LN2GPIMg=='],
      noMatch: ['endpoint=https://<resource>.communication.azure.com/;accesskey=<key>'],
    },
  },
  {
    id: 'secret.azure-app-configuration-secret',
    description: 'Secret in an Azure App Configuration connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['azconfig'],
    pattern: /Endpoint=https:\/\/[A-Za-z0-9.-]+\.azconfig\.io\/?;\s*Id=[^;\s"']{1,80};\s*Secret=([A-Za-z0-9+/]{20,}={0,2})/dgi,
    secretGroup: 1,
    validators: [notPlaceholder, randomish],
    maxLength: 400,
    window: { before: 100, after: 400 },
    priority: 70,
    source: 'Azure App Configuration connection string (learn.microsoft.com/azure/azure-app-configuration/howto-best-practices)',
    vectors: {
      match: ['Endpoint=https://foo-nonprod-appconfig.azconfig.io;Id=ABCD-E6-s0:tl6ABcdefGHi7kLMno/p;Secret=abCD1EF+GHIJxLMnOPqRSa53VWX05zaBCdE/fg9hi4k='],
      noMatch: ['Endpoint=https://contoso.azconfig.io;Id=xxx;Secret=xxx'],
    },
  },
  {
    id: 'secret.sql-connection-string-password',
    description: 'Password in a SQL / ADO.NET / ODBC style connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['password=', 'pwd=', 'password =', 'pwd ='],
    pattern: /(?:Server|Data Source|Initial Catalog|Database|User ID|UID|User)\s*=[^;"'<>]{0,200};(?:[^;"'<>]{0,200};){0,8}?\s*(?:Password|Pwd)\s*=\s*(?:'([^']{1,128})'|"([^"\\]{1,128})"|([^;"'\s<>]{1,128}))/dgi,
    secretGroup: [1, 2, 3],
    validators: [notPlaceholder],
    maxLength: 1200,
    window: { before: 1200, after: 140 },
    priority: 65,
    source: 'SqlConnection.ConnectionString keywords (learn.microsoft.com/dotnet/api/system.data.sqlclient.sqlconnection.connectionstring)',
    vectors: {
      match: ['Server=tcp:contoso-sql.database.windows.net,1433;Initial Catalog=orders;User ID=flowsvc;Password=P@ssw0rd!;Encrypt=True;', 'SERVER=server_name;DATABASE=database_name;user=user_name;pwd=plaintextpassword;encrypt=true;'],
      noMatch: ['Server=db;User ID=sa;Password=${DB_PASSWORD};', 'Server=db;User ID=sa;Password=;'],
    },
  },
  {
    id: 'secret.redis-connection-string',
    description: 'Password in an Azure Cache for Redis (StackExchange.Redis) connection string',
    severity: 'critical',
    confidence: 'high',
    keywords: ['.redis.cache.windows.net'],
    pattern: /[A-Za-z0-9-]+\.redis\.cache\.windows\.net(?::\d+)?,(?:[^,"'\s]{1,100},){0,6}?password=([^,"'\s]{8,})/dgi,
    secretGroup: 1,
    validators: [notPlaceholder],
    maxLength: 600,
    window: { before: 64, after: 600 },
    priority: 70,
    source: 'StackExchange.Redis configuration string (learn.microsoft.com/azure/azure-cache-for-redis/cache-dotnet-how-to-use-azure-redis-cache)',
    vectors: {
      match: ['contoso.redis.cache.windows.net:6380,password=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==,ssl=True,abortConnect=False'],
      noMatch: ['contoso.redis.cache.windows.net:6380,password=<access-key>,ssl=True'],
    },
  },
  // ---- URLs with credentials
  {
    id: 'secret.logic-apps-trigger-url',
    description: 'Logic Apps / Power Automate HTTP trigger URL with its SAS signature (anyone holding it can start the flow)',
    severity: 'high',
    confidence: 'high',
    keywords: ['sig='],
    pattern: /[?&]sig=([A-Za-z0-9_%-]{43,60})(?![A-Za-z0-9_%-])/dg,
    secretGroup: 1,
    validators: [
      // Cheapest rejection first: most sig= in run history belong to content links, not trigger URLs.
      validator('trigger-url', (_v, c) => TRIGGER_PATH.test(enclosingUrl(c.text, c.start))),
      validator('signature-32', isSignature32),
      validator('not-content-link', (_v, c) => !isRunContentLinkUrl(enclosingUrl(c.text, c.start)) && !insideContentLinkObject(c.text, c.start)),
    ],
    maxLength: 80,
    window: { before: 2, after: 100 },
    // The SAS rule asks for the same URL next (enclosingUrl keeps the last span).
    atHit: (text, at) => {
      const url = enclosingUrl(text, at);
      return TRIGGER_PATH.test(url) && !isRunContentLinkUrl(url);
    },
    priority: 80,
    source: 'Logic Apps request trigger callback URL (learn.microsoft.com/azure/logic-apps/logic-apps-http-endpoint): sp, sv, sig (unpadded base64url HMAC-SHA256)',
    vectors: {
      match: ['https://prod-27.westeurope.logic.azure.com:443/workflows/fb9c8d79b15f41ce9b12861862f43546/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=IxEQ_ygZf6WNEQCbjV0Vs6p6Y4DyNEJVAa86U5B4xhk'],
      noMatch: [
        'https://prod-25.westus.logic.azure.com/workflows/{id}/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={shared-access-signature}',
        '"inputsLink":{"uri":"https://prod-08.northcentralus.logic.azure.com:443/workflows/2dfd/runs/0858/actions/a/contents/ActionInputs?api-version=2016-10-01&sp=%2Fruns%2F0858%2Fread&sv=1.0&sig=dLmnt50joimEMK4k9rR6njHQh94iSFJ9rrDxFbkEg5M"}',
      ],
    },
  },
  {
    id: 'secret.azure-sas-token',
    description: 'Azure shared access signature (Storage / Service Bus / Event Hubs SAS: sig= with sv/sp/se/sr/skn)',
    severity: 'high',
    confidence: 'high',
    keywords: ['sig='],
    pattern: /[?&\s;]sig=([A-Za-z0-9%+/_=-]{43,70})(?![A-Za-z0-9%+/_=-])/dg,
    secretGroup: 1,
    validators: [
      // Cheapest rejection first: run-history content links carry sv/sp/se/sig too.
      validator('not-content-link', (_v, c) => !isRunContentLinkUrl(enclosingUrl(c.text, c.start)) && !insideContentLinkObject(c.text, c.start)),
      validator('signature-32', isSignature32),
      validator('sas-parameters', (_v, c) => {
        const around = c.text.slice(Math.max(0, c.start - 600), Math.min(c.text.length, c.end + 300));
        return /[?&\s]s(?:v|p|e|r|kn|rt|ig)=/.test(around.replace(/[?&\s;]sig=/, ''));
      }),
    ],
    maxLength: 90,
    window: { before: 2, after: 100 },
    atHit: (text, at) => !isRunContentLinkUrl(enclosingUrl(text, at)),
    priority: 70,
    source: 'Azure Storage SAS (learn.microsoft.com/rest/api/storageservices/create-service-sas) and Service Bus SharedAccessSignature token format',
    vectors: {
      match: [
        'https://x.blob.core.windows.net/c/b.txt?sp=r&st=2025-03-04T07:24:52Z&se=2025-04-04T15:24:52Z&spr=https&sv=2022-11-02&sr=c&sig=WSdF9YeZhvrbs%2B%2B1f8ZdDBzEe7fBJ%2BenuaXQ%2BJ9WOw0%3D',
        'SharedAccessSignature sr=https%3A%2F%2Fcontoso.servicebus.windows.net%2Forders&sig=c%2BUXo%2FJwf%2FGHomqYaw6tyRykKMaAnyikkf8nS7btD3DYg%3D&se=1767225600&skn=Root',
      ],
      noMatch: ['https://x.blob.core.windows.net/r/q1.xlsx?sv=2022-11-02&sr=b&sp=r&se=2025-04-04T15:24:52Z&sig=REDACTED'],
    },
  },
  {
    id: 'secret.url-credentials',
    description: 'Password embedded in a URL (scheme://user:password@host): database URIs, FTP, HTTP basic',
    severity: 'high',
    confidence: 'high',
    keywords: ['://'],
    // Starts at the "://" literal so the regex engine can skip ahead; the scheme is checked by a validator.
    pattern: /:\/\/[^\s:@/"'?#<>\\]{0,128}:([^\s/"'?#<>\\]{1,256})@[A-Za-z0-9][A-Za-z0-9.-]*/dg,
    secretGroup: 1,
    validators: [
      notPlaceholder,
      minLength(3),
      validator('not-port', (v) => !/^\d{1,5}$/.test(v)),
      validator('scheme', (_v, c) => /(?:^|[^A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/[^\s:@/"'?#<>\\]{0,128}:$/.test(c.text.slice(Math.max(0, c.start - 160), c.start))),
    ],
    maxLength: 600,
    window: { before: 24, after: 600 },
    // After `://`: an `@` within the userinfo limits (128 + 1 + 256); most URLs (https://host/path) fail at once.
    atHit: (text, at) => userinfoAtFollows(text, at + 3),
    priority: 55,
    source: 'RFC 3986 userinfo; secretlint @secretlint/secretlint-rule-database-connection-string and basicauth (MIT) behaviour',
    vectors: {
      match: ['postgresql://pguser:secur3Pass@postgres.example.com:5432/production_db', 'mongodb+srv://appuser:myR3alP@ssw0rd@cluster0.mongodb.net/mydb', 'jdbc:mysql://admin:str0ngP4ss@db.company.com:3306/app_db'],
      noMatch: ['mysql://user:${PASSWORD}@example.com:3306/db', 'https://YOUR_USERNAME:YOUR_PASSWORD@api.service.com', 'mongodb://localhost:27017/database', 'git@github.com:org/repo.git'],
    },
  },
  {
    id: 'secret.azure-functions-key-url',
    description: 'Azure Functions key in a function URL (?code=)',
    severity: 'high',
    confidence: 'high',
    keywords: ['code='],
    pattern: /\.azurewebsites\.net\/[^\s"'?#]*\?(?:[^\s"'#]*&)?code=([A-Za-z0-9%+/_=-]{30,120})(?![A-Za-z0-9%+/_=-])/dgi,
    secretGroup: 1,
    validators: [notPlaceholder, entropyAtLeast(1.5)],
    maxLength: 600,
    window: { before: 600, after: 130 },
    priority: 60,
    source: 'Azure Functions HTTP trigger keys (learn.microsoft.com/azure/azure-functions/function-keys-how-to)',
    vectors: {
      match: ['https://contoso-fn.azurewebsites.net/api/HttpTrigger1?code=Q2FsbE1lTWF5YmVfVGhpc0lzQUZha2VLZXlGb3JUZXN0cw%3D%3D&name=flow'],
      noMatch: ['https://contoso-fn.azurewebsites.net/api/HttpTrigger1?code={function-key}'],
    },
  },
  {
    id: 'secret.teams-incoming-webhook',
    description: 'Microsoft Teams / Office 365 incoming webhook URL',
    severity: 'medium',
    confidence: 'high',
    keywords: ['incomingwebhook/'],
    pattern: /https:\/\/[A-Za-z0-9-]+\.webhook\.office\.com\/webhookb2\/[0-9a-zA-Z-]{36}@[0-9a-zA-Z-]{36}\/IncomingWebhook\/([0-9a-zA-Z]{32})\/[0-9a-zA-Z-]{36}/dg,
    secretGroup: 1,
    validators: [],
    maxLength: 300,
    window: { before: 200, after: 300 },
    priority: 70,
    source: 'Office 365 connector webhook URL shape (learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors); gitleaks microsoft-teams-webhook',
    vectors: {
      match: ['https://contoso.webhook.office.com/webhookb2/12345678-abcd-1234-efgh-56789abcdef0@12345678-abcd-1234-efgh-56789abcdef0/IncomingWebhook/abcdefgh12345678abcdefgh12345678/12345678-abcd-1234-efgh-56789abcdef0'],
      noMatch: ['https://contoso.webhook.office.com/webhookb2/<group-id>@<tenant-id>/IncomingWebhook/<webhook-key>/<connector-id>'],
    },
  },
  {
    id: 'secret.slack-webhook',
    description: 'Slack incoming webhook URL',
    severity: 'medium',
    confidence: 'high',
    keywords: ['hooks.slack.com'],
    pattern: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/]{8,12}\/[A-Za-z0-9+/]{8,12}\/[A-Za-z0-9+/]{20,}/g,
    validators: [],
    maxLength: 200,
    window: { before: 10, after: 200 },
    priority: 70,
    source: `${GL}/slack.go (slack-webhook-url)`,
    vectors: { match: ['https://hooks.slack.com/services/T11111AA/BAAAA111A/qKirRWalryBGqKirRWalryBG'], noMatch: ['https://hooks.slack.com/services/'] },
  },
  // ---- Authorization schemes
  {
    id: 'secret.jwt',
    description: 'Signed JSON Web Token (bearer access / ID / session token)',
    severity: 'high',
    confidence: 'high',
    keywords: ['eyJ'],
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])/g,
    validators: [validator('signed-jwt', isSignedJwt)],
    maxLength: 8192,
    window: { before: 0, after: 8192 },
    priority: 75,
    source: `${GL}/jwt.go; RFC 7519`,
    vectors: {
      match: ['Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'],
      noMatch: ['eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', '"$skipToken":"eyIkaWQiOiIxIiwiTWF4Um93cyI6MTAwMH0"'],
    },
  },
  {
    id: 'secret.basic-auth',
    description: 'HTTP Basic credentials (base64 of user:password) in an Authorization value',
    severity: 'high',
    confidence: 'high',
    keywords: ['Basic'],
    pattern: /(?<![A-Za-z0-9])Basic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])/dg,
    secretGroup: 1,
    validators: [validator('user:password', isBasicCredential)],
    maxLength: 600,
    window: { before: 0, after: 600 },
    priority: 50,
    source: 'RFC 7617 (HTTP Basic); noseyparker/gitleaks http basic rules (behaviour only)',
    vectors: {
      match: ['Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', '"Authorization":"Basic bW9uaXRvcjptMG4xdDByIW5n"'],
      noMatch: ['Basic authentication is enabled', 'Basic dXNlcjo8cGFzc3dvcmQ+'],
    },
  },
  {
    id: 'secret.bearer-token',
    description: 'Opaque bearer token in an Authorization value',
    severity: 'high',
    confidence: 'medium',
    keywords: ['Bearer'],
    pattern: /(?<![A-Za-z0-9])Bearer\s+([A-Za-z0-9\-._~+/]{8,}=*)(?![A-Za-z0-9\-._~+/=@{(])/dg,
    secretGroup: 1,
    validators: [notPlaceholder, validator('token-shape', (v) => /\d/.test(v) && /[A-Za-z]/.test(v) && !/^[a-z]+$/i.test(v))],
    maxLength: 8192,
    window: { before: 0, after: 8200 },
    priority: 40,
    source: 'RFC 6750 b64token syntax',
    vectors: {
      match: ['Authorization: Bearer mF_9.B5f-4.1JqM', '"Authorization":"Bearer dapiZZZ0123456789abcdef"'],
      noMatch: ['"tokenType":"Bearer"', 'Authorization: Bearer <token>', 'Authorization: Bearer ********', 'Bearer @{body(\'Get_secret\')?[\'value\']}'],
    },
  },
  // ---- Private keys
  {
    id: 'secret.private-key',
    description: 'PEM / OpenSSH / PGP private key block',
    severity: 'critical',
    confidence: 'high',
    keywords: ['PRIVATE KEY'],
    pattern: /-----BEGIN[A-Z0-9 ]{0,24} PRIVATE KEY(?: BLOCK)?-----(?:\\r|\\n|\\\\n|\s|[A-Za-z-]+: [^\\\n]{0,200}(?:\\r|\\n|\s){1,4})*[A-Za-z0-9+/]{40}[A-Za-z0-9+/=\s\\]*(?:-----END[A-Z0-9 ]{0,24} PRIVATE KEY(?: BLOCK)?-----)?/g,
    validators: [],
    maxLength: 20000,
    window: { before: 48, after: 20000 },
    priority: 85,
    source: `${GL}/privatekey.go; RFC 7468`,
    vectors: {
      match: ['-----BEGIN EC PRIVATE KEY-----\nMIGlAgEBBDEA1yi+kzpV+5nUnRGzTjPPAPoMQlFu2WexPjZ4/uE97iD9024nWmdZ\n-----END EC PRIVATE KEY-----'],
      noMatch: ['-----BEGIN PRIVATE KEY-----\n***\n-----END PRIVATE KEY-----', '-----BEGIN PUBLIC KEY-----\nMIGlAgEBBDEA1yi+kzpV+5nUnRGzTjPPAPoMQlFu2WexPjZ4/uE97iD9024nWmdZ\n-----END PUBLIC KEY-----', '-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----'],
    },
  },
  // ---- SaaS tokens (prefixed)
  saas('secret.github-token', 'GitHub personal access / OAuth / app token', ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/g, `${GL}/github.go`, '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', 'gXX_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx'),
  saas('secret.github-fine-grained-token', 'GitHub fine-grained personal access token', ['github_pat_'], /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{82}(?![A-Za-z0-9_])/g, `${GL}/github.go`, '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', 'github_pat_short'),
  saas('secret.gitlab-token', 'GitLab personal / project / group access token', ['glpat-', 'glptt-', 'gldt-', 'glrt-'], /(?<![A-Za-z0-9_-])gl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g, `${GL}/gitlab.go`, 'glpat-aBcDeFgHiJkLmNoPqRsT', 'glpat-short'),
  saas('secret.npm-token', 'npm access token', ['npm_'], /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/g, `${GL}/npm.go`, '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', 'npm_install_script'),
  saas('secret.nuget-api-key', 'NuGet.org API key', ['oy2'], /(?<![0-9a-z])oy2[a-p][0-9a-z]{15}[aq][0-9a-z]{11}[eu][bdfhjlnprtvxz357][a-p][0-9a-z]{11}[aeimquy4](?![0-9a-z])/g, `${SU}: SEC101/031 NuGetApiKey`, 'oy2mdeaddeaddeadeadqdeaddeadxxxezodeaddeadwxuq', 'oy2mdeaddeaddeadeadqdeaddeadxxxezodeaddeadwxuqq'),
  saas('secret.slack-token', 'Slack bot / user / app token', ['xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxs-', 'xapp-', 'xoxe'], /(?<![A-Za-z0-9])(?:xox[baprs]-[0-9]{6,}-[0-9A-Za-z-]{8,}|xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{100,}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{32,})(?![A-Za-z0-9-])/g, `${GL}/slack.go`, 'xoxb-23984754863-2348975623000-AAAAANzjawSSE9krECohd', 'xoxb-notatoken'),
  saas('secret.sendgrid-api-key', 'Twilio SendGrid API key', ['SG.'], /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, `${GL}/sendgrid.go`, 'SG.APhb3zgjtx3hajdas1TjBB.H7Sgbba3afgKSDyB442aDK0kpGO3SD332313-L5528K', 'SG.short.token'),
  saas('secret.stripe-secret-key', 'Stripe secret / restricted key', ['sk_live_', 'rk_live_', 'sk_test_', 'rk_test_'], /(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{20,247}(?![A-Za-z0-9_])/g, `${GL}/stripe.go`, 'sk_live_AAAAAAAAAAAAAAAAAAAAAAAA', 'pk_live_AAAAAAAAAAAAAAAAAAAAAAAA'),
  saas('secret.aws-access-key-id', 'AWS access key id (pair it with the secret access key nearby)', ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'A3T'], /(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])/g, `${GL}/aws.go`, 'AKIAIOSFODNN7SECRETS', 'AKIAIOSFODNN7EXAMPLE'),
  saas('secret.openai-api-key', 'OpenAI API key', ['T3BlbkFJ', 'sk-proj-', 'sk-svcacct-', 'sk-admin-'], /(?<![A-Za-z0-9_-])sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g, `${GL}/openai.go`, 'sk-proj-f5-UKZNwZTgzRb8ZucIrNqTs9oT6D1DMRv_0Zq3WY7G1J1O-wPsXwgv6WFxEn8XrZu2vvosfG7T3BlbkFJBYX7TPseHaYE6r3ljpCBurd6U6qpJeRk8UqQ1ORj5DFHReHaF6mstbOCirkkl9vsHWLw23test', 'sk-proj-notakey'),
  saas('secret.anthropic-api-key', 'Anthropic API key', ['sk-ant-'], /(?<![A-Za-z0-9_-])sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])/g, `${GL}/anthropic.go`, 'sk-ant-api03-z0zjHHXo5uibD2havvfqiZYJe9ENlwI1trcQC4pyRC2N2w6nbpUitUU_iR4kkSszVyUpINaxvCtun3_Mub0O3w-48GXRgAA', 'ssk-ant-api04-NotARealKeyButLooksLikeOne; sk-ant-api02-notarealkey'),
  saas('secret.hashicorp-vault-token', 'HashiCorp Vault service / batch token', ['hvs.', 'hvb.'], /(?<![A-Za-z0-9_.-])hv[sb]\.[A-Za-z0-9_-]{90,}(?![A-Za-z0-9_-])/g, `${GL}/hashicorp_vault.go`, 'hvs.hWay-wis3QpoSXob5gz_jyHmBQeyTg0l4IRsl4rnZw0tMbiT8h6X_CCHun3cdyThVbIYuNyEWNWcZ7lgwxBxm98NcV5WjUC', 'hvs.short'),
  saas('secret.databricks-token', 'Azure Databricks personal access token', ['dapi'], /(?<![A-Za-z0-9])dapi[a-fA-F0-9]{32}(?:-\d)?(?![A-Za-z0-9])/g, `${GL}/databricks.go`, 'dapi1234567890ABCDEF1234567890ABCDEF', 'dapi_not_a_token'),
  saas('secret.grafana-token', 'Grafana service account / cloud token', ['glsa_', 'glc_'], /(?<![A-Za-z0-9_])(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2})(?![A-Za-z0-9_])/g, `${GL}/grafana.go`, 'glsa_abcdefghijklmnopqrstuvwxyz012345_89abcdef', 'glsa_short'),
  saas('secret.onepassword-service-account-token', '1Password service account token', ['ops_eyJ'], /(?<![A-Za-z0-9_])ops_eyJ[A-Za-z0-9+/_-]{250,}={0,3}/g, `${GL}/1password.go`, 'ops_eyJ' + 'c2VydmljZWFjY291bnQ'.repeat(14), 'ops_eyJshort'),
  saas('secret.google-api-key', 'Google API key', ['AIza'], /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g, `${GL}/gcp.go`, 'AIzaSyD-1234567890abcdefghijklmnopqrstu', 'AIzaShort'),
  saas('secret.pypi-token', 'PyPI upload token', ['pypi-AgEIcHlwaS5vcmc'], /(?<![A-Za-z0-9_-])pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}(?![A-Za-z0-9_-])/g, `${GL}/pypi.go`, 'pypi-AgEIcHlwaS5vcmc' + 'CJDE3ZDA4NTYtNDQ2OS00ZTQ4LWI5ZTctYmY4ZTc0NDc0NjY4AAIqWzMsIjE5', 'pypi-AgEIcHlwaS5vcmcshort'),
  saas('secret.docker-hub-token', 'Docker Hub personal access token', ['dckr_pat_'], /(?<![A-Za-z0-9_-])dckr_pat_[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])/g, `${GL}/docker.go`, 'dckr_pat_2b3e36beeb386dfdaacb9b46004', 'dckr_pat_short'),
  saas('secret.huggingface-token', 'Hugging Face access token', ['hf_'], /(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9_])/g, `${GL}/huggingface.go`, 'hf_jTxpEqAbcdEFghIJklMNopQRstUVwxYZab', 'hf_short_token'),
  saas('secret.shopify-token', 'Shopify access / custom app / private app token', ['shpat_', 'shpca_', 'shppa_', 'shpss_'], /(?<![A-Za-z0-9_])shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9_])/g, `${GL}/shopify.go`, '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', 'shpat_short'),
  saas('secret.mailgun-api-key', 'Mailgun private API key', ['key-'], /(?<![A-Za-z0-9_-])key-[0-9a-f]{32}(?![A-Za-z0-9_-])/g, `${GL}/mailgun.go`, 'key-4b1e5f2a9c8d7e6f5a4b3c2d1e0f9a8b', 'key-value-pair'),
  { ...saas('secret.mailchimp-api-key', 'Mailchimp API key', ['-us'], /(?<![A-Za-z0-9])[0-9a-f]{32}-us[0-9]{1,2}(?![A-Za-z0-9])/g, `${GL}/mailchimp.go`, '4b1e5f2a9c8d7e6f5a4b3c2d1e0f9a8b-us21', 'plain-us21'), window: { before: 40, after: 8 } },
  saas('secret.atlassian-api-token', 'Atlassian (Jira / Confluence) API token', ['ATATT3'], /(?<![A-Za-z0-9_=-])ATATT3[A-Za-z0-9_=-]{150,250}(?![A-Za-z0-9_=-])/g, `${GL}/atlassian.go`, 'ATATT3xFfGF0' + 'T2Rfc2VjcmV0X3ZhbHVlX2Zvcl90ZXN0aW5nX29ubHk'.repeat(4) + '=1A2B3C4D', 'ATATT3short'),
  saas('secret.postman-api-key', 'Postman API key', ['PMAK-'], /(?<![A-Za-z0-9_-])PMAK-[a-f0-9]{24}-[a-f0-9]{34}(?![A-Za-z0-9_-])/g, `${GL}/postman.go`, 'PMAK-5f2a9c8d7e6f5a4b3c2d1e0f-4b1e5f2a9c8d7e6f5a4b3c2d1e0f9a8b12', 'PMAK-short'),
  saas('secret.linear-api-key', 'Linear API key', ['lin_api_'], /(?<![A-Za-z0-9_])lin_api_[A-Za-z0-9]{40}(?![A-Za-z0-9_])/g, `${GL}/linear.go`, 'lin_api_4b1e5f2a9c8d7e6f5a4b3c2d1e0f9a8bAbCdEfGh', 'lin_api_short'),
  saas('secret.notion-token', 'Notion integration token', ['ntn_', 'secret_'], /(?<![A-Za-z0-9_])(?:ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})(?![A-Za-z0-9_])/g, `${GL}/notion.go`, 'ntn_45678901234AbCdEfGhIjKlMnOpQrStUvWxYz012345678', 'secret_short'),
  {
    id: 'secret.gcp-service-account-key',
    description: 'Google Cloud service account key file (JSON with private_key)',
    severity: 'critical',
    confidence: 'high',
    keywords: ['service_account'],
    pattern: /\\?"type\\?"\s*:\s*\\?"service_account\\?"[^{}]{0,2000}?\\?"private_key\\?"\s*:\s*\\?"(-----BEGIN PRIVATE KEY-----(?:\\\\n|\\n)[A-Za-z0-9+/]{40}[^"]{20,})/dg,
    secretGroup: 1,
    validators: [],
    maxLength: 8000,
    window: { before: 20, after: 8000 },
    priority: 88,
    source: `${GL}/gcp.go (gcp-service-account)`,
    vectors: {
      match: ['{"type":"service_account","project_id":"p","private_key_id":"abc","private_key":"-----BEGIN PRIVATE KEY-----\\nMIIDOjCCAiICCQCmbkQEYlfyoTANBgkqhkiG9w0BAQUFADBeMQswCQYDVQQGEwJ1\\n-----END PRIVATE KEY-----\\n"}'],
      noMatch: ['{"type":"service_account","project_id":"your-project","private_key_id":"...","private_key":"-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"}'],
    },
  },
  {
    id: 'secret.azure-devops-pat',
    description: 'Azure DevOps personal access token (legacy 52-char base32 format)',
    severity: 'high',
    confidence: 'medium',
    keywords: ['devops', 'vsts', 'azdo'],
    pattern: /(?<![A-Za-z0-9])[a-z2-7]{52}(?![A-Za-z0-9])/g,
    validators: [validator('base32-mix', (v) => (v.match(/[2-7]/g)?.length ?? 0) >= 4 && (v.match(/[a-z]/g)?.length ?? 0) >= 30), entropyAtLeast(3.8)],
    maxLength: 200,
    window: { before: 100, after: 200 },
    priority: 30,
    source: 'Azure DevOps PAT legacy format (52 lower-case base32 chars); noseyparker/kingfisher azure devops rules (behaviour only)',
    vectors: {
      match: ['AZURE_DEVOPS_EXT_PAT=zpczok4kqgnw5prpfy3ehiylbqvgbjfkdiqkejsxqamy7qbkep7q'],
      noMatch: ['"token":"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"'],
    },
  },
  {
    id: 'secret.keyvault-secret-value',
    description: 'Secret value returned by the Key Vault connector (Get secret output body.value) visible in run history',
    severity: 'high',
    confidence: 'high',
    keywords: ['"version"', '\\"version\\"'],
    pattern: /"value"\s*:\s*"((?:[^"\\]|\\.){1,20000})"(?:\s*,\s*"[A-Za-z]{1,40}"\s*:\s*(?:"(?:[^"\\]|\\.){0,400}"|null|true|false|-?\d{1,20}))*?\s*,\s*"version"\s*:\s*"[0-9a-f]{32}"|"version"\s*:\s*"[0-9a-f]{32}"(?:\s*,\s*"[A-Za-z]{1,40}"\s*:\s*(?:"(?:[^"\\]|\\.){0,400}"|null|true|false|-?\d{1,20}))*?\s*,\s*"value"\s*:\s*"((?:[^"\\]|\\.){1,20000})"/dg,
    secretGroup: [1, 2],
    validators: [notPlaceholder],
    maxLength: 24000,
    priority: 20,
    source: 'Key Vault connector GetSecret response schema (learn.microsoft.com/connectors/keyvault/#secretbundle): value, name, version, contentType, isEnabled…',
    vectors: {
      match: ['"body":{"value":"P@ssw0rd!","name":"sql-admin-password","version":"4387e9f3d6e14c459867679a90fd0f79","contentType":null}'],
      noMatch: ['"body":{"value":"***","name":"sql-password","version":"4387e9f3d6e14c459867679a90fd0f79"}', '"body":{"name":"sql-password","version":"4387e9f3d6e14c459867679a90fd0f79","isEnabled":true}'],
    },
  },
  {
    id: 'secret.http-authentication-value',
    description: 'Credential inside an HTTP action "authentication" object (Raw value, client certificate pfx)',
    severity: 'high',
    confidence: 'high',
    keywords: ['"authentication"'],
    pattern: /"authentication"\s*:\s*\{[^{}]{0,2000}?"(?:value|pfx)"\s*:\s*"((?:[^"\\]|\\.){8,20000})"/dg,
    secretGroup: 1,
    validators: [notPlaceholder],
    maxLength: 24000,
    window: { before: 2, after: 24000 },
    priority: 15,
    source: 'Logic Apps HTTP action authentication types (learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#authentication-types)',
    vectors: {
      match: ['"authentication":{"type":"Raw","value":"SharedKey contoso:c2VjcmV0S2V5Rm9yVGVzdGluZw=="}'],
      noMatch: ['"authentication":{"type":"Raw","value":"@parameters(\'rawAuth\')"}', '"authentication":{"type":"ManagedServiceIdentity","audience":"https://storage.azure.com"}'],
    },
  },
];

function saas(id: string, description: string, keywords: string[], pattern: RegExp, source: string, good: string, bad: string): FormatRule {
  return {
    id,
    description,
    severity: 'high',
    confidence: 'high',
    keywords,
    pattern,
    validators: [validator('not-example', (v) => !/EXAMPLE/.test(v))],
    maxLength: 600,
    window: { before: 16, after: 600 },
    priority: 85,
    source,
    vectors: { match: [good, `{"token":"${good}"}`], noMatch: [bad] },
  };
}


// ------------------------------------------------------------------ context rules

/** Normalised names that describe a secret but do not hold one. */
const META_SUFFIX =
  /(?:id|ids|name|names|type|types|url|uri|urls|uris|endpoint|length|len|size|count|set|policy|policies|expiry|expires|expiresin|expiresat|expiration|expireson|lastset|changed|date|time|timestamp|file|filename|path|hint|version|label|header|field|prompt|prefix|suffix|format|mode|kind|variable|var|ref|reference|source|required|enabled|disabled|reset|strength|location|provider|scope|scopes|algorithm|alg|hash|hashed|salt|status|state|flag|created|updated|rotation|age|complexity|mask|question|template|pattern|regex|rule|rules|parameter|param|secretname|setting|settings|vault|store|description|title|attribute|attributes|property|properties|lifetime|ttl|duration|method|methods|option|options|config|configuration|display|displayname|hint|placeholder|example|sample|validity|valid)$/;
const META_PREFIX = /^(?:is|has|use|uses|allow|show|require|requires|enable|disable|should|must|can|force|remember|forgot|supports|with|without|no|needs|want)(?=[a-z])/;
const PAGING = /(?:skiptoken|deltatoken|continuationtoken|nexttoken|pagetoken|nextpagetoken|synctoken|paginationtoken|cursortoken|resumetoken|idempotency|csrftoken|xsrftoken|antiforgery|publictoken|publickey|publishablekey|tokentype|tokenendpoint|tokenurl|tokenuri|tokenissuer|tokenaudience|keyvault|partitionkey|rowkey|sortkey|cachekey|objectkey|bucketkey|schemakey|foreignkey|primarykeycolumn|instrumentationkey|keyvalue|keytype|keysize|keyusage|keyops|keycount|keylength|keyname)/;

const SECRET_LIKE = validator('secret-like', (v) => {
  if (v.length < 8 || isPlaceholder(v) || looksLikeCode(v) || looksLikeFileName(v)) return false;
  if (/^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/.test(v)) return false;
  if (/^(?:https?|ftp|file):\/\//i.test(v)) return false;
  if (/^-?\d+(?:\.\d+)?$/.test(v)) return false;
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) return false;
  if (/\s/.test(v.trim())) return false;
  // Identifier-like words (DOC_Vector_5_32, NEXUS-GPT4-API-KEY, SalesResults-1.2) are names, not secrets.
  if (/^[A-Za-z]+(?:[-_.][A-Za-z0-9]+)+$/.test(v) && !/\d[A-Za-z]|[A-Za-z]\d.*[A-Za-z]\d/.test(v)) return false;
  if (/^[A-Za-z][a-z]+(?:[A-Z][a-z]+)*$/.test(v)) return false;
  const b = /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0 ? Buffer.from(v, 'base64') : undefined;
  if (b && b.length >= 8 && isPrintableText(b) && /[ ]/.test(b.toString('latin1'))) return false;
  return v.length >= 16 ? shannonEntropy(v) >= 3.0 : /\d/.test(v) && /[A-Za-z]/.test(v);
});

const PASSWORD_LIKE = validator('password-like', (v) => {
  if (v.length < 6 || v.length > 256 || isPlaceholder(v) || looksLikeCode(v) || looksLikeFileName(v)) return false;
  if (/^(?:https?|ftp|file):\/\//i.test(v)) return false;
  if (/^\d{4}-\d{2}-\d{2}[T ]/.test(v)) return false;
  if (/\s/.test(v.trim()) && v.trim().split(/\s+/).length > 3) return false;
  return true;
});


export const CONTEXT_RULES: ContextRule[] = [
  {
    id: 'secret.authorization-header',
    description: 'Credential in an Authorization / Proxy-Authorization header or field (scheme other than a recognised format)',
    severity: 'high',
    confidence: 'medium',
    names: /^(?:proxy)?authorization$|^(?:x)?authheader$/,
    shape: 'authorization',
    validators: [SECRET_LIKE],
    priority: 12,
    source: 'RFC 9110 §11.6.2 Authorization; Logic Apps HTTP action headers',
    vectors: {
      match: ['{"headers":{"Authorization":"SSWS 00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRS_T4nx"}}', 'Authorization: token 9f8e7d6c5b4a39281706f5e4d3c2b1a0deadbeef'],
      noMatch: ['{"headers":{"Authorization":"HMAC-SHA256 SignedHeaders=x-ms-date;host&Signature=@{variables(\'sig\')}"}}', '{"Authorization":"Bearer <token>"}'],
    },
  },
  {
    id: 'secret.password-field',
    description: 'Password in a field, form parameter, header or connection-string part named like password / pwd / passphrase',
    severity: 'high',
    confidence: 'high',
    names: /password|passwd|passphrase|passcode|^pwd$|pwd$|^pass$|^userpass$/,
    excludeNames: /(?:^|[a-z])(?:passwordless|passport|bypass|compass|passthrough|passthru|passenger)/,
    shape: 'plain',
    validators: [PASSWORD_LIKE],
    priority: 10,
    source: `${GL}/generic.go (generic-api-key keywords), detect-secrets KeywordDetector (behaviour only)`,
    vectors: {
      match: ['{"username":"svc-flow","password":"super$ecret"}', 'grant_type=password&username=a%40b.com&password=m0n1t0r!ng&scope=openid', 'db_password = "Tr0ub4dor&3"'],
      noMatch: ['{"password":"","passwordLastSet":"2024-03-11T09:14:22Z","passwordPolicies":"DisablePasswordExpiration"}', '{"password":"*****"}', 'PuttyPassword=0', '{"password":"%DB_PASSWORD%"}'],
    },
  },
  {
    id: 'secret.secret-field',
    description: 'Secret in a field named like client_secret / secret / app_secret / secret_key',
    severity: 'high',
    confidence: 'high',
    names: /secret|^credentials?$|^creds?$/,
    shape: 'plain',
    validators: [SECRET_LIKE],
    priority: 10,
    source: `${GL}/generic.go (generic-api-key), OAuth 2.0 client_secret (RFC 6749 §2.3.1)`,
    vectors: {
      match: ['{"CLIENT_SECRET":"6fb1cff7690db9ac066cadbbde8e3c078efdabcf"}', 'client_id=abc&client_secret=Zk9yVGVzdGluZ09ubHkxMjM0NTY3&grant_type=client_credentials'],
      noMatch: ['secret = get_secret_key()', 'secret_length = X25519.secret_length', 'LLM_SECRET_NAME = "NEXUS-GPT4-API-KEY"', '{"secret":"@parameters(\'GraphClientSecret\')"}', '{"isSecretSet":true}'],
    },
  },
  {
    id: 'secret.token-field',
    description: 'Token in a field or header named like access_token / id_token / refresh_token / api_token / X-Vault-Token / PRIVATE-TOKEN',
    severity: 'high',
    confidence: 'high',
    names: /token$|^auth$|^pat$|tokens?secret|personalaccesstoken/,
    shape: 'plain',
    validators: [SECRET_LIKE],
    priority: 10,
    source: `${GL}/generic.go (generic-api-key); RFC 6749 §5.1 token response`,
    vectors: {
      match: ['{"access_token":"2YotnFZFEjr1zCsicMWpAA0123456789"}', '{"X-Api-Token":"a8f5f167f44f4964e6c998dee827110c"}'],
      noMatch: ['{"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=RFNwdAIAAQAAACM6U2FyYWhAY29udG9zby5jb20p"}', '{"tokenType":"Bearer"}', '{"publicToken":"9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"}'],
    },
  },
  {
    id: 'secret.api-key-field',
    description: 'Key in a field or header named like api-key / x-functions-key / Ocp-Apim-Subscription-Key / accessKey / accountKey / privateKey',
    severity: 'high',
    confidence: 'high',
    names: /(?:api|access|account|subscription|functions?|sas|private|secret|master|primary|secondary|shared|sharedaccess|auth|signing|encryption|client|host|admin|query|app|application|storage|device|webhook|service|license|developer|consumer|partner|integration|management|x)key$|apikey/,
    shape: 'plain',
    validators: [SECRET_LIKE, minLength(12)],
    priority: 10,
    source: 'Azure REST headers (api-key, Ocp-Apim-Subscription-Key, x-functions-key, aeg-sas-key); gitleaks generic-api-key keywords',
    vectors: {
      match: ['{"headers":{"Ocp-Apim-Subscription-Key":"2c69j0dc327c4929b74d3a832a04266b"}}', '{"accessKey":"lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1F8j8rQ=="}'],
      noMatch: ['{"ANY_KEY":"ZHVtbXkgdGV4dCBkYXRhIGRhdGEgZGF0YQ=="}', '{"public_key":"9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"}', '{"headers":{"x-functions-key":"{your-function-key}","api-key":"YOUR_API_KEY"}}', "schemaKey = 'DOC_Vector_5_32'"],
    },
  },
  {
    id: 'secret.url-query-credential',
    description: 'Credential in a URL query parameter (api_key=, access_token=, appid=, key=, sig=)',
    severity: 'high',
    confidence: 'medium',
    names: /^(?:apikey|key|appid|appkey|accesstoken|token|authtoken|password|pwd|secret|clientsecret|subscriptionkey|code)$/,
    queryOnly: true,
    shape: 'plain',
    validators: [SECRET_LIKE, minLength(16), validator('not-hex-guid', (v) => !/^[0-9a-f]{8}[0-9a-f]{4}[1-5][0-9a-f]{3}[89ab][0-9a-f]{3}[0-9a-f]{12}$/i.test(v))],
    priority: 9,
    source: 'OWASP "Information exposure through query strings in URL"; gitleaks generic-api-key',
    vectors: {
      match: ['https://api.openweathermap.org/data/2.5/weather?q=Oslo&appid=951bc382db9abad29c68634761dd6e19'],
      noMatch: ['https://graph.microsoft.com/v1.0/users?$top=100&$skiptoken=RFNwdAIAAQAAACM6U2FyYWhAY29udG9zby5jb20p', 'https://x.example/cb?code=abc'],
    },
  },
  {
    id: 'secret.sas-signature-field',
    description: 'SAS / trigger signature (sig) held in its own field, e.g. a trigger callback "queries" object',
    severity: 'high',
    confidence: 'high',
    names: /^sig$/,
    shape: 'signature',
    validators: [validator('signature-32', isSignature32)],
    priority: 11,
    source: 'Logic Apps listCallbackUrl response (queries.sig); Azure SAS sig parameter',
    vectors: {
      match: ['{"queries":{"api-version":"2018-07-01-preview","sig":"IxEQ_ygZf6WNEQCbjV0Vs6p6Y4DyNEJVAa86U5B4xhk"}}'],
      noMatch: ['{"signature":"Kind regards","sig":"CSD"}'],
    },
  },
];

/**
 * Names the engine looks for in text; every context rule's names contain at least one. `code` and
 * `appid` only name a credential as URL query parameters (url-query-credential), so their stems carry
 * the `=`: bare `code` is everywhere in run history (statecode, status codes) and costs a look each.
 */
export const CONTEXT_STEMS = ['pass', 'pwd', 'secret', 'token', 'key', 'auth', 'sig', 'cred', 'code=', 'appid='];

/** Lower-case, letters and digits only: `Ocp-Apim-Subscription-Key` → `ocpapimsubscriptionkey`. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The context rule for a field name, or undefined when the name is not sensitive. */
export function contextRuleFor(rawName: string, inQuery: boolean, disabled?: ReadonlySet<string>): ContextRule | undefined {
  const rules = contextRulesFor(rawName, inQuery);
  if (rules.length === 0) return undefined;
  if (!disabled || disabled.size === 0) return rules[0];
  return rules.find((r) => !disabled.has(r.id));
}

/**
 * Field names repeat endlessly in run history (`statecode`, `sig`, `password`): the rules a name
 * qualifies for are cached per name (bounded; cleared when full). Disabled rules are filtered after.
 */
const NAME_CACHE = new Map<string, ContextRule[]>();
const NAME_CACHE_MAX = 4096;
const NO_RULES: ContextRule[] = [];

function contextRulesFor(rawName: string, inQuery: boolean): ContextRule[] {
  if (rawName.length > 120) return matchContextRules(rawName, inQuery);
  const key = (inQuery ? '?' : ':') + rawName;
  let rules = NAME_CACHE.get(key);
  if (rules === undefined) {
    if (NAME_CACHE.size >= NAME_CACHE_MAX) NAME_CACHE.clear();
    rules = matchContextRules(rawName, inQuery);
    NAME_CACHE.set(flatCopy(key), rules);
  }
  return rules;
}

/**
 * A fresh copy of a short string. Names are slices of the scanned text, and V8 slices keep their
 * whole parent alive: a cached slice would pin megabytes of run history per entry.
 */
function flatCopy(s: string): string {
  const codes = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  return String.fromCharCode(...codes);
}

/** Every context rule the name qualifies for, in table order. */
function matchContextRules(rawName: string, inQuery: boolean): ContextRule[] {
  // Use the last segment of dotted / colon names: token:clientSecret → clientSecret.
  const seg = rawName.split(/[.:/]/).filter(Boolean).pop() ?? rawName;
  const n = normaliseName(seg.startsWith('$') || seg.startsWith('%24') ? seg.replace(/^(?:\$|%24)/, '') : seg);
  if (n.length === 0 || n.length > 60) return NO_RULES;
  if (PAGING.test(n)) return NO_RULES;
  if (META_PREFIX.test(n)) return NO_RULES;
  const out: ContextRule[] = [];
  for (const rule of CONTEXT_RULES) {
    if (rule.queryOnly && !inQuery) continue;
    if (!rule.names.test(n)) continue;
    if (rule.excludeNames?.test(n)) continue;
    // Metadata about a secret (passwordPolicies, secretName, accessKeyId, tokenType) holds no secret.
    if (!rule.queryOnly && META_SUFFIX.test(n)) continue;
    out.push(rule);
  }
  return out.length > 0 ? out : NO_RULES;
}

export const ALL_RULE_IDS: string[] = [...FORMAT_RULES.map((r) => r.id), ...CONTEXT_RULES.map((r) => r.id)];

export function isPlaceholderValue(v: string): boolean {
  return isPlaceholder(v);
}
