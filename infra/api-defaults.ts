/**
 * The API function's memory in MB when the construct's `memorySize` prop is not given. The
 * bench prices a request's Lambda time at it (bench/aws-cost.ts).
 */
export const defaultApiMemoryMb = 1024;
