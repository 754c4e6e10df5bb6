// Where a CLI writes, and whether it runs as a program: the tests call a CLI's main in-process with
// their own buffers (most cases), and start it as a process where the process itself is under test.

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export const PROCESS_IO: CliIO = {
  out: (text) => {
    process.stdout.write(text);
  },
  err: (text) => {
    process.stderr.write(text);
  },
};

/** True when `filename` is the program node runs (node FILE, ts-node FILE, node scripts/run.js FILE), not an import. */
export function isProgram(filename: string): boolean {
  return process.argv[1] === filename;
}
