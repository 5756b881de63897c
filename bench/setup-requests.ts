/** Requests that set a cell up, outside its figures. */

export async function createTopic(
  url: string,
  name: string,
  partitions: number,
  config?: Readonly<Record<string, string>>,
): Promise<void> {
  const response = await fetch(`${url}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, partitions, ...(config && { config }) }),
  });
  if (response.status !== 201) {
    throw new Error(`creating topic ${name}: ${response.status} ${await response.text()}`);
  }
}
