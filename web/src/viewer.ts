// Who is signed in, for every page: the principal, what they may do, and the console session.
import { createContext, useContext } from 'react';
import type { ConsoleSession, Me } from './api/models.js';

export interface Viewer {
  me: Me;
  session: ConsoleSession;
  /** An approver of some role: has requests to review. */
  reviews: boolean;
  /** Admins and auditors see everyone's grants, sessions and the audit log. */
  seesAll: boolean;
}

export const ViewerContext = createContext<Viewer | null>(null);

export function useViewer(): Viewer {
  const v = useContext(ViewerContext);
  if (!v) throw new Error('useViewer outside a signed-in console');
  return v;
}
