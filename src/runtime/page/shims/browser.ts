// The page bundle's stand-in for src/runtime/browser.ts (mapped by src/runtime/page-bundle.ts): profile.ts and
// timing.ts import it lazily for the browser backends, which drive Chromium from Node with playwright-core.
// The page is the browser; it measures through src/runtime/page/runner.ts.
import { RebirthError } from '../../../errors.js';

const refuse = (): Promise<never> => Promise.reject(new RebirthError('browser backends drive Chromium from Node; in the page, use src/runtime/page/runner.ts'));

export const profileInBrowser = refuse;
export const timeModelsInBrowser = refuse;
