/** Registration with the control plane. */

export type RegistrationState = 'registered' | 'pending' | 'refused';
